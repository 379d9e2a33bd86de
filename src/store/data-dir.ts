/**
 * Finding, and where allowed creating, the data directory before SQLite opens a file
 * in it. Two things node:fs alone gets wrong for sluice:
 * - `mkdirSync(dir, { recursive: true })` loops forever when the file system answers
 *   ENOENT for a directory whose parent exists (procfs does: `--data /proc/x` hung
 *   every command), so missing directories are made one level at a time here;
 * - commands that only read records (`incident`, `keys list`, `ips list`…) must not
 *   create an empty database at a mistyped `--data` and then report "nothing found".
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { shorten } from '../core/echo.ts';
import { SluiceError } from '../core/errors.ts';

const REASONS: Readonly<Record<string, string>> = {
  ENOTDIR: 'not a directory (a part of the path is a file)',
  EEXIST: 'not a directory (a file has that name)',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'on a read-only file system',
  ENAMETOOLONG: 'the path is too long',
  // The parent exists, yet the directory cannot be made in it: procfs, sysfs…
  ENOENT: 'cannot be created here (this file system does not hold directories of your own)',
};

/**
 * Makes sure `dir` is a directory: creates it (and missing parents, mode 0700) when
 * `create` is true, or fails with SLUICE_ERR_DATA_DIR saying where and why.
 *
 * @example
 * prepareDataDir('/var/lib/sluice', { create: true }); // serve, keys create
 * prepareDataDir('./dtaa', { create: false }); // throws: no data directory at ./dtaa
 */
export function prepareDataDir(dir: string, options: { create: boolean }): void {
  const kind = kindOf(dir);
  if (kind === 'directory') return;
  if (kind === 'other') throw dataDirError(dir, 'not a directory (a file has that name)');
  if (!options.create) {
    throw dataDirError(
      dir,
      undefined,
      `no data directory at ${shorten(dir)}: is --data right? (sluice serve creates it)`,
    );
  }
  const missing: string[] = [];
  for (let at = resolve(dir); kindOf(at) === 'missing'; at = dirname(at)) {
    missing.unshift(at);
    if (dirname(at) === at) break;
  }
  for (const path of missing) {
    try {
      mkdirSync(path, { mode: 0o700 });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      throw dataDirError(dir, REASONS[code] ?? (error as Error).message);
    }
  }
}

function kindOf(path: string): 'directory' | 'other' | 'missing' {
  try {
    return statSync(path).isDirectory() ? 'directory' : 'other';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    // ENOTDIR, EACCES…: the path cannot be a usable directory either way.
    if (code === 'ENOTDIR') return 'other';
    throw dataDirError(path, REASONS[code ?? ''] ?? (error as Error).message);
  }
}

function dataDirError(dir: string, reason: string | undefined, message?: string): SluiceError {
  return new SluiceError('SLUICE_ERR_DATA_DIR', message ?? `${shorten(dir)}: ${reason}`, {
    exitCode: 2,
  });
}
