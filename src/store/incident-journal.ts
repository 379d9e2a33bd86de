/**
 * The incident journal: every new incident is appended to a file in the data directory
 * before its reference code is handed out, so a crash between the refusal and the next
 * incident flush loses no code a client has received.
 *
 * One small write per new incident (not per refusal: a run's later refusals reuse the
 * code), with `writeSync` and no fsync. A crash of the process (`kill -9`, an OOM kill)
 * loses nothing: the kernel has the bytes once `writeSync` returns. A power loss or a
 * kernel crash can lose the last unsynced lines, as it can lose the last commits of the
 * database (WAL with `synchronous = NORMAL`).
 *
 * Files are `incidents.<pid>.<n>.journal`: each gateway writes its own, so two gateways
 * on one data directory never share a file; a worker thread (`server.threads`) writes
 * `incidents.<pid>-<lane>.<n>.journal`, its own too, replayed by the supervisor when the
 * thread dies (`replayIncidentJournals` with `lane`). A flush rotates to the next file (`n + 1`)
 * as it takes its batch, and deletes the old ones once the batch is committed. At start,
 * before serving, `replayIncidentJournals` saves what files of gateways no longer
 * running hold and deletes them.
 *
 * Lines are JSON, one incident each, ending in `\n`: JSON escapes newlines in strings,
 * so a line is self-delimiting, and a line torn by a crash mid-write (no `\n`, or not
 * parseable) is skipped.
 */
import { closeSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SluiceError } from '../core/errors.ts';
import type { Incident } from '../core/records.ts';
import { normalizeReference } from '../core/reference.ts';
import type { RecordStore } from './types.ts';

/**
 * What the incident recorder needs of a journal; the memory record store runs without one.
 *
 * @example
 * createIncidentRecorder({ store, clock, flushMs: 250, onError, journal: openIncidentJournal(dir) });
 */
export interface IncidentJournal {
  /** Appends a new incident, synchronously: when it returns, a process crash cannot lose it. */
  append(incident: Incident): void;
  /**
   * Closes the file being written and starts a new one at the next append; returns the
   * closed file (undefined when nothing was written since the last rotation). Called as
   * a flush takes its batch, so the file holds only incidents of that batch or earlier.
   */
  rotate(): string | undefined;
  /** Deletes a file `rotate` returned, once every incident in it is committed to the store. */
  release(file: string): void;
  /** Closes the file being written, leaving it for the replay at the next start. */
  close(): void;
}

const PATTERN = /^incidents\.(\d+)(?:-(\d+))?\.(\d+)\.journal$/;

/**
 * Opens the journal of this process in `dataDir`; files are created at the first append.
 *
 * @example
 * const journal = openIncidentJournal('./data');
 * journal.append(incident); // before the refusal carrying incident.reference is sent
 * const file = journal.rotate(); // as a flush takes its batch
 * await store.saveIncidents(batch);
 * if (file !== undefined) journal.release(file);
 */
export function openIncidentJournal(
  dataDir: string,
  pid: number = process.pid,
  /** A worker thread's lane: its own files, apart from the main thread's and other lanes'. */
  lane?: number,
): IncidentJournal {
  const owner = lane === undefined ? `${pid}` : `${pid}-${lane}`;
  // Files a previous process with the same pid left are replayed before this one runs;
  // numbering after the highest one left keeps a leftover from ever being appended to.
  let next = 1 + Math.max(0, ...journalFiles(dataDir, pid, lane ?? null).map((f) => f.n));
  let fd: number | undefined;
  let current: string | undefined;

  return {
    append(incident) {
      if (fd === undefined) {
        current = join(dataDir, `incidents.${owner}.${next++}.journal`);
        try {
          fd = openSync(current, 'a', 0o600);
        } catch (error) {
          current = undefined;
          throw journalError(join(dataDir, `incidents.${owner}.*.journal`), 'open', error);
        }
      }
      const line = Buffer.from(`${JSON.stringify(incident)}\n`);
      try {
        let written = 0;
        while (written < line.length) written += writeSync(fd, line, written);
      } catch (error) {
        throw journalError(current ?? dataDir, 'append to', error);
      }
    },
    rotate() {
      const file = current;
      if (fd !== undefined) closeQuietly(fd);
      fd = undefined;
      current = undefined;
      return file;
    },
    release(file) {
      try {
        unlinkSync(file);
      } catch {
        // Already gone, or not deletable now: the replay at the next start finds its
        // incidents stored and deletes it then.
      }
    },
    close() {
      if (fd !== undefined) closeQuietly(fd);
      fd = undefined;
      current = undefined;
    },
  };
}

/**
 * What a replay did, for the start-up log.
 *
 * @example
 * { files: 2, saved: 57, skipped: 1 } // 57 codes were only in the journal; one line torn
 */
export interface ReplayReport {
  /** Journal files read (and deleted). */
  readonly files: number;
  /** Incidents that were in no stored row and are now saved. */
  readonly saved: number;
  /** Lines skipped: torn by a crash mid-write, or not an incident. */
  readonly skipped: number;
}

/**
 * Saves the incidents in journal files left by gateways no longer running (a crash, a
 * failed last flush), then deletes the files. An incident already stored is left as
 * stored: a journal line is the incident's first refusal, a stored row is that or later.
 * Files of a live process (another gateway on the same directory) are left to it.
 * Replaying twice is harmless, so a crash during the replay only means replaying again.
 *
 * @example
 * const store = openSqliteRecordStore('./data');
 * const { saved } = await replayIncidentJournals('./data', store); // before listening
 */
export async function replayIncidentJournals(
  dataDir: string,
  store: RecordStore,
  options: {
    pid?: number;
    alive?: (pid: number) => boolean;
    /** Only this worker thread's files of this process (the thread died; see openIncidentJournal). */
    lane?: number;
  } = {},
): Promise<ReplayReport> {
  const self = options.pid ?? process.pid;
  const alive = options.alive ?? processAlive;
  // Our own pid on a file means a previous process that had it (after a reboot, or in a
  // container where the gateway is always pid 1): nothing of ours is written yet.
  const files =
    options.lane === undefined
      ? journalFiles(dataDir).filter((f) => f.pid === self || !alive(f.pid))
      : journalFiles(dataDir, self, options.lane);
  let skipped = 0;
  const found = new Map<string, Incident>();
  for (const file of files) {
    const text = readText(file.path);
    if (text === undefined) continue; // replayed and deleted by another gateway starting
    const lines = text.split('\n');
    // The text after the last `\n` is a line torn by a crash mid-write (or nothing).
    if (lines.pop() !== '') skipped++;
    for (const line of lines) {
      const incident = parseLine(line);
      if (incident === undefined) skipped++;
      else found.set(normalizeReference(incident.reference) ?? incident.reference, incident);
    }
  }
  const missing: Incident[] = [];
  for (const incident of found.values()) {
    if ((await store.getIncident(incident.reference)) === undefined) missing.push(incident);
  }
  await store.saveIncidents(missing);
  for (const file of files) {
    try {
      unlinkSync(file.path);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT')
        throw journalError(file.path, 'delete', error);
    }
  }
  return { files: files.length, saved: missing.length, skipped };
}

/**
 * The incidents in the journal files of `dataDir` (every process's), for a look-up that
 * must also find codes not yet in the store. Torn lines are skipped.
 *
 * @example
 * findInJournals('./data', 'RL-7KQ4-M9XT'); // the incident, or undefined
 */
export function findInJournals(dataDir: string, reference: string): Incident | undefined {
  const wanted = normalizeReference(reference);
  if (wanted === undefined) return undefined;
  for (const file of journalFiles(dataDir)) {
    // Undefined: deleted by its gateway since the listing, so its incidents are stored.
    for (const line of readText(file.path)?.split('\n') ?? []) {
      const incident = parseLine(line);
      if (incident !== undefined && normalizeReference(incident.reference) === wanted) {
        return incident;
      }
    }
  }
  return undefined;
}

/** A journal file's text; undefined when it no longer exists. */
function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return undefined;
    throw journalError(path, 'read', error);
  }
}

/**
 * Journal files in `dataDir` (of one pid when given; of one lane when given, null for the
 * main thread's), oldest first per pid.
 */
function journalFiles(
  dataDir: string,
  pid?: number,
  lane?: number | null,
): { path: string; pid: number; n: number }[] {
  let names: string[];
  try {
    names = readdirSync(dataDir);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return [];
    throw journalError(dataDir, 'list', error);
  }
  const out: { path: string; pid: number; n: number }[] = [];
  for (const name of names) {
    const m = PATTERN.exec(name);
    if (m === null) continue;
    const filePid = Number(m[1]);
    if (pid !== undefined && filePid !== pid) continue;
    const fileLane = m[2] === undefined ? null : Number(m[2]);
    if (lane !== undefined && fileLane !== lane) continue;
    out.push({ path: join(dataDir, name), pid: filePid, n: Number(m[3]) });
  }
  return out.sort((a, b) => a.pid - b.pid || a.n - b.n);
}

/** An incident from one journal line, or undefined for a torn or foreign line. */
function parseLine(line: string): Incident | undefined {
  if (line === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  const i = value as Partial<Incident> | null;
  if (
    typeof i !== 'object' ||
    i === null ||
    typeof i.reference !== 'string' ||
    typeof i.rule !== 'string' ||
    typeof i.subject !== 'object' ||
    i.subject === null ||
    typeof i.startedAt !== 'number' ||
    typeof i.endedAt !== 'number' ||
    typeof i.count !== 'number' ||
    typeof i.counters !== 'object' ||
    i.counters === null
  ) {
    return undefined;
  }
  return {
    reference: i.reference,
    rule: i.rule,
    subject: i.subject,
    startedAt: i.startedAt,
    endedAt: i.endedAt,
    count: i.count,
    counters: i.counters,
    note: typeof i.note === 'string' ? i.note : undefined,
  };
}

/** Whether a process with this pid runs (one of another user counts: EPERM). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Closing after a write error can fail too; the fd is gone either way.
  }
}

/** Writing fails as a store error (the gateway goes on); reading and listing, at start, as a data directory error. */
function journalError(path: string, what: string, error: unknown): SluiceError {
  const reason = (error as { code?: string })?.code ?? String(error);
  const writing = what === 'open' || what === 'append to';
  return new SluiceError(
    writing ? 'SLUICE_ERR_STORE' : 'SLUICE_ERR_DATA_DIR',
    `${path}: cannot ${what} the incident journal: ${reason}`,
    writing ? { cause: error } : { cause: error, exitCode: 2 },
  );
}
