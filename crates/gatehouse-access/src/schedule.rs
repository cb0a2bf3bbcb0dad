//! Weekly schedules, holiday calendars and one-off exceptions, compiled into
//! minute bitmaps so that "is this open now" is a few word reads.
//!
//! A schedule is wall-clock time: an interval `08:00–18:00` is open while the
//! clocks on the site's wall show a time in it, whatever the UTC offset. So
//! on the night clocks spring forward the hour that does not exist is never
//! open or closed (no instant maps to it), and on the night they fall back the
//! repeated hour is evaluated twice, the same way both times.
//!
//! An interval belongs to the day it starts on: `fri 22:00–06:00` runs from
//! Friday 22:00 to Saturday 06:00, even if Saturday is a holiday. On a holiday
//! only the intervals listed for `hol` start; the weekday's do not. Exceptions
//! are local date-time ranges that open or close whatever the weekly plan says,
//! and they win over it.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;
use gatehouse_domain::ValidationError;
use serde::{Deserialize, Serialize};

/// Most intervals one schedule may have.
pub const INTERVALS_MAX: usize = 64;
/// Most exceptions one schedule may have.
pub const EXCEPTIONS_MAX: usize = 256;
/// Most days one holiday calendar may have.
pub const HOLIDAYS_MAX: usize = 1_000;

const MINUTES_PER_DAY: u16 = 1_440;
/// 1,440 minutes in 23 words of 64 bits.
const WORDS: usize = 23;

/// The days an interval starts on: a weekday, or `hol` for the days of the schedule's holiday calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DayCode {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
    Hol,
}

impl DayCode {
    const fn index(self) -> usize {
        self as usize
    }

    fn of_weekday(date: NaiveDate) -> DayCode {
        match date.weekday().num_days_from_monday() {
            0 => DayCode::Mon,
            1 => DayCode::Tue,
            2 => DayCode::Wed,
            3 => DayCode::Thu,
            4 => DayCode::Fri,
            5 => DayCode::Sat,
            _ => DayCode::Sun,
        }
    }
}

/// A time of day to the minute, `00:00` to `24:00` (end of day, only as an interval's end).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime(u16);

impl ClockTime {
    pub const MIDNIGHT: ClockTime = ClockTime(0);
    pub const END_OF_DAY: ClockTime = ClockTime(MINUTES_PER_DAY);

    pub fn parse(text: &str) -> Result<ClockTime, ValidationError> {
        let bad = || ValidationError::message(format!("'{text}' is not a time of day in HH:MM form (00:00 to 24:00)"));
        let (hours, minutes) = text.split_once(':').ok_or_else(bad)?;
        if hours.len() != 2 || minutes.len() != 2 {
            return Err(bad());
        }
        let hours: u16 = hours.parse().map_err(|_| bad())?;
        let minutes: u16 = minutes.parse().map_err(|_| bad())?;
        if minutes >= 60 || hours > 24 || (hours == 24 && minutes != 0) {
            return Err(bad());
        }
        Ok(ClockTime(hours * 60 + minutes))
    }

    pub const fn from_minutes(minutes: u16) -> Option<ClockTime> {
        if minutes <= MINUTES_PER_DAY {
            Some(ClockTime(minutes))
        } else {
            None
        }
    }

    pub const fn minutes(self) -> u16 {
        self.0
    }

    fn of(local: NaiveDateTime) -> ClockTime {
        // hour() < 24 and minute() < 60, so this is below 1,440.
        ClockTime((local.hour() * 60 + local.minute()) as u16)
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl fmt::Debug for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ClockTime::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `start` to `end` on each of `days`; an `end` at or before `start` runs into the next day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Interval {
    pub days: Vec<DayCode>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "08:00"))]
    pub start: ClockTime,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "18:00"))]
    pub end: ClockTime,
}

impl Interval {
    /// Whether it runs past midnight into the next day.
    pub fn spans_midnight(&self) -> bool {
        self.end <= self.start
    }
}

/// Whether an exception opens or closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExceptionEffect {
    Open,
    Closed,
}

/// A one-off change to the weekly plan, in the schedule's local time: `[from, until)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScheduleException {
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "2026-12-24T14:00:00"))]
    pub from: NaiveDateTime,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "2026-12-27T00:00:00"))]
    pub until: NaiveDateTime,
    pub effect: ExceptionEffect,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Checks a schedule's intervals and exceptions; the error names the offending element.
pub fn check_plan(intervals: &[Interval], exceptions: &[ScheduleException]) -> Result<(), ValidationError> {
    if intervals.len() > INTERVALS_MAX {
        return Err(ValidationError::new("intervals", format!("at most {INTERVALS_MAX} intervals")));
    }
    if exceptions.len() > EXCEPTIONS_MAX {
        return Err(ValidationError::new("exceptions", format!("at most {EXCEPTIONS_MAX} exceptions")));
    }
    for (index, interval) in intervals.iter().enumerate() {
        if interval.days.is_empty() {
            return Err(ValidationError::new(format!("intervals[{index}].days"), "name at least one day"));
        }
        if interval.start == ClockTime::END_OF_DAY {
            return Err(ValidationError::new(format!("intervals[{index}].start"), "24:00 is only an end; start at 00:00"));
        }
        if interval.start == interval.end {
            return Err(ValidationError::new(
                format!("intervals[{index}].end"),
                "equals start; for a whole day write 00:00 to 24:00",
            ));
        }
    }
    for (index, exception) in exceptions.iter().enumerate() {
        if exception.until <= exception.from {
            return Err(ValidationError::new(format!("exceptions[{index}].until"), "must be after from"));
        }
        if exception.note.as_ref().is_some_and(|note| note.chars().count() > 200) {
            return Err(ValidationError::new(format!("exceptions[{index}].note"), "at most 200 characters"));
        }
    }
    Ok(())
}

/// One day of a holiday calendar; a `recurring` day repeats every year on the same month and day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "2026-12-25"))]
    pub date: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub recurring: bool,
}

pub fn check_holidays(days: &[Holiday]) -> Result<(), ValidationError> {
    if days.len() > HOLIDAYS_MAX {
        return Err(ValidationError::new("days", format!("at most {HOLIDAYS_MAX} days")));
    }
    for (index, day) in days.iter().enumerate() {
        if day.name.as_ref().is_some_and(|name| name.chars().count() > 200) {
            return Err(ValidationError::new(format!("days[{index}].name"), "at most 200 characters"));
        }
    }
    Ok(())
}

/// A holiday calendar compiled for lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holidays {
    dates: Vec<NaiveDate>,
    yearly: Vec<(u32, u32)>,
}

impl Holidays {
    pub fn compile(days: &[Holiday]) -> Holidays {
        let mut dates: Vec<NaiveDate> = days.iter().filter(|day| !day.recurring).map(|day| day.date).collect();
        let mut yearly: Vec<(u32, u32)> =
            days.iter().filter(|day| day.recurring).map(|day| (day.date.month(), day.date.day())).collect();
        dates.sort_unstable();
        dates.dedup();
        yearly.sort_unstable();
        yearly.dedup();
        Holidays { dates, yearly }
    }

    pub fn contains(&self, date: NaiveDate) -> bool {
        self.dates.binary_search(&date).is_ok() || self.yearly.binary_search(&(date.month(), date.day())).is_ok()
    }
}

/// 1,440 bits, one per minute of a day.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct DayBits([u64; WORDS]);

impl DayBits {
    fn set_range(&mut self, from: u16, to: u16) {
        for minute in from..to {
            self.0[usize::from(minute / 64)] |= 1 << (minute % 64);
        }
    }

    fn get(&self, minute: u16) -> bool {
        self.0[usize::from(minute / 64)] >> (minute % 64) & 1 == 1
    }
}

impl fmt::Debug for DayBits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DayBits({} minutes)", self.0.iter().map(|word| word.count_ones()).sum::<u32>())
    }
}

/// Why a schedule is open or closed at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The weekly plan (or, when `holiday`, the holiday intervals of a holiday).
    Weekly { holiday: bool },
    /// One-off exception number `index` (in the schedule's list).
    Exception { index: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub open: bool,
    pub basis: Basis,
}

/// A schedule ready to evaluate: per day code, the minutes its own intervals
/// cover, and the minutes after midnight that its spanning intervals spill into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledSchedule {
    today: [DayBits; 8],
    spill: [DayBits; 8],
    /// Sorted by `from`.
    exceptions: Vec<(NaiveDateTime, NaiveDateTime, bool, usize)>,
}

impl CompiledSchedule {
    pub fn compile(intervals: &[Interval], exceptions: &[ScheduleException]) -> CompiledSchedule {
        let mut today = [DayBits::default(); 8];
        let mut spill = [DayBits::default(); 8];
        for interval in intervals {
            for day in &interval.days {
                let (start, end) = (interval.start.minutes(), interval.end.minutes());
                if interval.spans_midnight() {
                    today[day.index()].set_range(start, MINUTES_PER_DAY);
                    spill[day.index()].set_range(0, end);
                } else {
                    today[day.index()].set_range(start, end);
                }
            }
        }
        let mut exceptions: Vec<_> = exceptions
            .iter()
            .enumerate()
            .map(|(index, exception)| (exception.from, exception.until, exception.effect == ExceptionEffect::Open, index))
            .collect();
        exceptions.sort_by_key(|&(from, ..)| from);
        CompiledSchedule { today, spill, exceptions }
    }

    /// Whether it is open at `instant` on the clocks of `zone`.
    pub fn at(&self, instant: DateTime<Utc>, zone: Tz, holidays: Option<&Holidays>) -> Verdict {
        self.at_local(instant.with_timezone(&zone).naive_local(), holidays)
    }

    /// Whether it is open at a wall-clock time.
    pub fn at_local(&self, local: NaiveDateTime, holidays: Option<&Holidays>) -> Verdict {
        // Later exceptions win over earlier ones where they overlap.
        let mut decided = None;
        for &(from, until, open, index) in &self.exceptions {
            if from > local {
                break;
            }
            if local < until {
                decided = Some(Verdict { open, basis: Basis::Exception { index } });
            }
        }
        if let Some(verdict) = decided {
            return verdict;
        }
        let date = local.date();
        let minute = ClockTime::of(local).minutes();
        let day_code = |date: NaiveDate| {
            if holidays.is_some_and(|holidays| holidays.contains(date)) {
                DayCode::Hol
            } else {
                DayCode::of_weekday(date)
            }
        };
        let code = day_code(date);
        let holiday = code == DayCode::Hol;
        let open = self.today[code.index()].get(minute)
            || date.pred_opt().is_some_and(|yesterday| self.spill[day_code(yesterday).index()].get(minute));
        Verdict { open, basis: Basis::Weekly { holiday } }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, NaiveTime, TimeZone};
    use proptest::prelude::*;

    use super::*;

    fn interval(days: &[DayCode], start: &str, end: &str) -> Interval {
        Interval { days: days.to_vec(), start: ClockTime::parse(start).unwrap(), end: ClockTime::parse(end).unwrap() }
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn clock_times_parse_strictly() {
        assert_eq!(ClockTime::parse("08:05").unwrap().minutes(), 485);
        assert_eq!(ClockTime::parse("24:00").unwrap(), ClockTime::END_OF_DAY);
        for bad in ["8:00", "24:01", "12:60", "25:00", "noon", "12-00", "", "12:0a"] {
            assert!(ClockTime::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plans_name_the_bad_element() {
        let err = check_plan(&[interval(&[DayCode::Mon], "08:00", "08:00")], &[]).unwrap_err();
        assert_eq!(err.field, "intervals[0].end");
        let err = check_plan(&[interval(&[], "08:00", "09:00")], &[]).unwrap_err();
        assert_eq!(err.field, "intervals[0].days");
        let err = check_plan(&[interval(&[DayCode::Mon], "24:00", "09:00")], &[]).unwrap_err();
        assert_eq!(err.field, "intervals[0].start");
    }

    #[test]
    fn office_hours_in_berlin() {
        let schedule = CompiledSchedule::compile(
            &[interval(&[DayCode::Mon, DayCode::Tue, DayCode::Wed, DayCode::Thu, DayCode::Fri], "08:00", "18:00")],
            &[],
        );
        let berlin = chrono_tz::Europe::Berlin;
        // Monday 2026-11-23, 07:30 UTC is 08:30 in Berlin (UTC+1).
        assert!(schedule.at(utc("2026-11-23T07:30:00Z"), berlin, None).open);
        assert!(!schedule.at(utc("2026-11-23T17:00:00Z"), berlin, None).open, "18:00 is the end, exclusive");
        assert!(schedule.at(utc("2026-11-23T16:59:59Z"), berlin, None).open);
        assert!(!schedule.at(utc("2026-11-22T10:00:00Z"), berlin, None).open, "Sunday");
    }

    #[test]
    fn night_shift_spans_midnight_and_belongs_to_its_first_day() {
        let schedule = CompiledSchedule::compile(&[interval(&[DayCode::Fri], "22:00", "06:00")], &[]);
        let local = |text: &str| text.parse::<NaiveDateTime>().unwrap();
        assert!(schedule.at_local(local("2026-11-27T23:00:00"), None).open, "Friday night");
        assert!(schedule.at_local(local("2026-11-28T05:59:00"), None).open, "Saturday morning");
        assert!(!schedule.at_local(local("2026-11-28T06:00:00"), None).open);
        assert!(!schedule.at_local(local("2026-11-27T05:00:00"), None).open, "Friday morning follows Thursday");
        // A holiday on Saturday does not cut the Friday shift short; a holiday on Friday cancels it.
        let saturday = Holidays::compile(&[Holiday { date: "2026-11-28".parse().unwrap(), name: None, recurring: false }]);
        assert!(schedule.at_local(local("2026-11-28T05:00:00"), Some(&saturday)).open);
        let friday = Holidays::compile(&[Holiday { date: "2026-11-27".parse().unwrap(), name: None, recurring: false }]);
        let verdict = schedule.at_local(local("2026-11-27T23:00:00"), Some(&friday));
        assert_eq!(verdict, Verdict { open: false, basis: Basis::Weekly { holiday: true } });
        assert!(!schedule.at_local(local("2026-11-28T05:00:00"), Some(&friday)).open);
    }

    #[test]
    fn holidays_follow_their_own_intervals_and_recur() {
        let schedule = CompiledSchedule::compile(
            &[interval(&[DayCode::Fri], "08:00", "18:00"), interval(&[DayCode::Hol], "10:00", "12:00")],
            &[],
        );
        let christmas = Holidays::compile(&[Holiday { date: "2020-12-25".parse().unwrap(), name: None, recurring: true }]);
        let at = |text: &str| schedule.at_local(text.parse().unwrap(), Some(&christmas));
        // 2026-12-25 is a Friday.
        assert_eq!(at("2026-12-25T09:00:00"), Verdict { open: false, basis: Basis::Weekly { holiday: true } });
        assert_eq!(at("2026-12-25T11:00:00"), Verdict { open: true, basis: Basis::Weekly { holiday: true } });
        assert_eq!(at("2026-12-18T09:00:00"), Verdict { open: true, basis: Basis::Weekly { holiday: false } });
    }

    #[test]
    fn exceptions_win_and_later_ones_win_over_earlier_ones() {
        let exceptions = vec![
            ScheduleException {
                from: "2026-12-24T14:00:00".parse().unwrap(),
                until: "2026-12-27T00:00:00".parse().unwrap(),
                effect: ExceptionEffect::Closed,
                note: None,
            },
            ScheduleException {
                from: "2026-12-26T10:00:00".parse().unwrap(),
                until: "2026-12-26T11:00:00".parse().unwrap(),
                effect: ExceptionEffect::Open,
                note: Some("inventory".into()),
            },
        ];
        let schedule = CompiledSchedule::compile(&[interval(&[DayCode::Thu], "08:00", "18:00")], &exceptions);
        let at = |text: &str| schedule.at_local(text.parse().unwrap(), None);
        assert!(at("2026-12-24T13:59:00").open);
        assert_eq!(at("2026-12-24T14:00:00"), Verdict { open: false, basis: Basis::Exception { index: 0 } });
        assert_eq!(at("2026-12-26T10:30:00"), Verdict { open: true, basis: Basis::Exception { index: 1 } });
        assert_eq!(at("2026-12-26T11:00:00"), Verdict { open: false, basis: Basis::Exception { index: 0 } });
    }

    #[test]
    fn a_whole_day_lasts_23_and_25_hours_on_the_days_clocks_change() {
        let all_day = CompiledSchedule::compile(&[interval(&[DayCode::Sun], "00:00", "24:00")], &[]);
        let berlin = chrono_tz::Europe::Berlin;
        let open_minutes = |day: &str| {
            let start = utc(day) - Duration::hours(3);
            (0..30 * 60).filter(|minute| all_day.at(start + Duration::minutes(*minute), berlin, None).open).count()
        };
        assert_eq!(open_minutes("2026-03-29T00:00:00Z"), 23 * 60, "spring forward");
        assert_eq!(open_minutes("2026-10-25T00:00:00Z"), 25 * 60, "fall back");
        assert_eq!(open_minutes("2026-11-22T00:00:00Z"), 24 * 60);
    }

    /// The reference: the interval's occurrences as wall-clock date-time ranges, built by date arithmetic.
    fn reference_open(intervals: &[Interval], holidays: &Holidays, local: NaiveDateTime) -> bool {
        let code = |date: NaiveDate| {
            if holidays.contains(date) {
                DayCode::Hol
            } else {
                DayCode::of_weekday(date)
            }
        };
        let at = |date: NaiveDate, time: ClockTime| date.and_time(NaiveTime::MIN) + Duration::minutes(i64::from(time.minutes()));
        [local.date() - Duration::days(1), local.date()].into_iter().any(|date| {
            intervals.iter().any(|interval| {
                let end_date = if interval.spans_midnight() { date + Duration::days(1) } else { date };
                interval.days.contains(&code(date)) && at(date, interval.start) <= local && local < at(end_date, interval.end)
            })
        })
    }

    const ZONES: &[Tz] = &[
        chrono_tz::Europe::Berlin,
        chrono_tz::America::New_York,
        chrono_tz::America::Santiago,
        chrono_tz::Australia::Lord_Howe,
        chrono_tz::Asia::Kolkata,
        chrono_tz::Pacific::Apia,
        chrono_tz::Europe::London,
    ];

    /// Instants near DST changes: each zone's transitions of 2011 (Apia skipped 30 December), 2026 and 2027.
    fn instants_near_transitions() -> impl Strategy<Value = (Tz, DateTime<Utc>)> {
        (0..ZONES.len(), 0i64..3 * 366 * 24 * 60, -180i64..180).prop_map(|(zone, offset, jitter)| {
            let zone = ZONES[zone];
            let base = if offset % 3 == 0 { utc("2011-01-01T00:00:00Z") } else { utc("2026-01-01T00:00:00Z") };
            let mut at = base + Duration::minutes(offset % (2 * 366 * 24 * 60));
            // Snap to the nearest offset change within a week, then jitter around it.
            let start_offset = zone.offset_from_utc_datetime(&at.naive_utc());
            for step in 0..(7 * 24 * 4) {
                let probe = at + Duration::minutes(15 * step);
                if zone.offset_from_utc_datetime(&probe.naive_utc()) != start_offset {
                    at = probe;
                    break;
                }
            }
            (zone, at + Duration::minutes(jitter))
        })
    }

    fn intervals() -> impl Strategy<Value = Vec<Interval>> {
        let day = prop::sample::select(vec![
            DayCode::Mon,
            DayCode::Tue,
            DayCode::Wed,
            DayCode::Thu,
            DayCode::Fri,
            DayCode::Sat,
            DayCode::Sun,
            DayCode::Hol,
        ]);
        // Quarter hours, and the hours around which clocks change, are where bugs hide.
        let time = prop_oneof![0u16..=96, prop::sample::select(vec![0u16, 4, 8, 96])].prop_map(|quarters| quarters * 15);
        let one = (prop::collection::vec(day, 1..4), time.clone(), time).prop_filter_map("zero length", |(days, start, end)| {
            (start != end && start != MINUTES_PER_DAY).then_some(Interval { days, start: ClockTime(start), end: ClockTime(end) })
        });
        prop::collection::vec(one, 1..5)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Across DST changes in seven zones (30-minute shifts, a change at midnight, a skipped day),
        /// the bitmaps agree with wall-clock date arithmetic at every instant.
        #[test]
        fn bitmaps_agree_with_wall_clock_arithmetic(
            intervals in intervals(),
            (zone, instant) in instants_near_transitions(),
            holiday_offset in prop::option::of(-1i64..=1),
        ) {
            let local = instant.with_timezone(&zone).naive_local();
            let holidays = Holidays::compile(&holiday_offset.map(|days| Holiday {
                date: local.date() + Duration::days(days),
                name: None,
                recurring: false,
            }).into_iter().collect::<Vec<_>>());
            let compiled = CompiledSchedule::compile(&intervals, &[]);
            prop_assert_eq!(
                compiled.at(instant, zone, Some(&holidays)).open,
                reference_open(&intervals, &holidays, local),
                "{} in {} is {}", instant, zone, local
            );
        }

        /// Over any week, the minutes a zone's clocks spend inside a plan of non-spanning
        /// intervals differ from the plan's length only by the hours the clocks skipped or repeated.
        #[test]
        fn open_time_changes_only_by_the_clock_shift(
            (zone, instant) in instants_near_transitions(),
            start in 0u16..1_380,
            length in 1u16..60,
        ) {
            let end = (start + length * 15).min(MINUTES_PER_DAY);
            let all_days = vec![DayCode::Mon, DayCode::Tue, DayCode::Wed, DayCode::Thu, DayCode::Fri, DayCode::Sat, DayCode::Sun];
            let compiled = CompiledSchedule::compile(&[Interval { days: all_days, start: ClockTime(start), end: ClockTime(end) }], &[]);
            let from = instant - Duration::hours(36);
            let minutes = 72 * 60;
            let open = (0..minutes).filter(|minute| compiled.at(from + Duration::minutes(*minute), zone, None).open).count() as i64;
            // Each wall-clock minute in the window occurs once, never, or twice: count those occurrences.
            let mut expected = 0i64;
            let first_local = from.with_timezone(&zone).naive_local();
            // Clocks move by at most a day (Apia skipped 30 December 2011): scan a day beyond each end.
            for minute in (-26 * 60)..(minutes + 26 * 60) {
                let wall = first_local + Duration::minutes(minute);
                let in_plan = { let m = ClockTime::of(wall).minutes(); m >= start && m < end };
                if in_plan {
                    let occurrences = match zone.from_local_datetime(&wall) {
                        chrono::LocalResult::None => vec![],
                        chrono::LocalResult::Single(at) => vec![at],
                        chrono::LocalResult::Ambiguous(first, second) => vec![first, second],
                    };
                    expected += occurrences.iter().filter(|at| {
                        let at = at.with_timezone(&Utc);
                        at >= from && at < from + Duration::minutes(minutes)
                    }).count() as i64;
                }
            }
            prop_assert_eq!(open, expected);
        }
    }
}
