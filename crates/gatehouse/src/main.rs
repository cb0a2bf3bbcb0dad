// mimalloc: under many small, short-lived allocations across threads (JSON,
// rows, headers) glibc's malloc showed up at the top of the list-route profile;
// mimalloc measured 25-30% more requests/s (README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gatehouse::cli::main()
}
