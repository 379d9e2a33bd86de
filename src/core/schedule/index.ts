/** Off-hours schedules in an IANA time zone. */
export {
  batchAllowedAt,
  batchMultiplierAt,
  describeWindows,
  type Interval,
  type OffHoursState,
  offHoursAt,
} from './off-hours.ts';
export {
  isValidTimeZone,
  type LocalDateTime,
  type LocalParts,
  localParts,
  wallTimeAt,
  wallToUtc,
  zonedToUtc,
} from './zoned-time.ts';
