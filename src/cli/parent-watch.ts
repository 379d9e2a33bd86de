/**
 * Noticing that the process which started the gateway is gone. A supervisor signals
 * the process it started; when that is not the gateway itself, the signal may never
 * reach it:
 * - `npx sluice serve` / `npm start`: npm → sh → node. SIGTERM to npm ends npm and sh,
 *   and sh does not pass it on: the gateway is left serving, reparented, never drained.
 * - bin/sluice.js on an older Node: launcher → pinned node. The launcher passes signals
 *   on, but a launcher killed outright (SIGKILL) cannot.
 * In those two cases (recognised by npm's `npm_command` and the launcher's
 * `SLUICE_LAUNCHER_PID`) the gateway checks its parent twice a second and stops
 * gracefully once it has changed. Started any other way (systemd, a shell, `nohup`),
 * the parent is not watched: a gateway outliving its shell may be meant to.
 */

/** Environment variables that say who started the gateway. */
export type StarterEnv = Readonly<Record<string, string | undefined>>;

/**
 * Calls `onGone(parentPid)` once when the parent this process started with is gone
 * (the parent pid changed), if it was started by npm or by the sluice launcher.
 * Returns a function that stops watching. The timer does not keep the process alive.
 *
 * @example
 * const unwatch = watchParent(process.env, (pid) => stop(`parent ${pid} gone`));
 * // … on shutdown:
 * unwatch();
 */
export function watchParent(
  env: StarterEnv,
  onGone: (parentPid: number) => void,
  intervalMs = 500,
): () => void {
  const parent = process.ppid;
  const byLauncher = env.SLUICE_LAUNCHER_PID === String(parent);
  const byNpm = env.npm_command !== undefined;
  if (!byLauncher && !byNpm) return () => {};
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone(parent);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
