/**
 * HAProxy as a second C peer beside nginx: one thread (it gets one core, like every
 * gateway here), keep-alive connections to the upstream, and a stick table keyed by the
 * `X-API-Key` header whose request rate, over a window, answers 429 past the limit.
 *
 * @example
 *   const running = await startHaproxy('http://127.0.0.1:4000', HIGH_LIMIT);
 *   // … load running.url …
 *   await running.stop();
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForHttp } from '../lib/net.ts';
import { runBounded, spawnPinned } from '../lib/procs.ts';
import { FLOOD_IP, type Limit, type RefusalKind } from '../lib/target-types.ts';

/**
 * A limit in stick-table terms: `sc_http_req_rate` counts the requests of the window
 * (the current one included), so `max` per window passes and the next is denied. Whole
 * per-second rates use a one-second window, anything else a minute, as for the Fastify
 * peer (`fastifyWindow`): neither has nginx's burst.
 *
 * @example
 *   haproxyWindow(LOW_LIMIT) // { max: 10, period: '60s' }
 */
export function haproxyWindow(limit: Limit): { max: number; period: string } {
  return limit.perMinute % 60 === 0
    ? { max: limit.perMinute / 60, period: '1s' }
    : { max: limit.perMinute, period: '60s' };
}

/** What HAProxy needs to answer one refusal kind: the kind, and the valid keys (the first floods). */
export interface HaproxyRefusal {
  readonly kind: RefusalKind;
  readonly keys: readonly string[];
}

/** The keys map file for a refusal setup: `KEY ok`, the flooding key `suspended` for that kind. */
export function haproxyKeysMap(r: HaproxyRefusal): string {
  const state = (i: number) => (i === 0 && r.kind === 'suspended' ? 'suspended' : 'ok');
  return `${r.keys.map((k, i) => `${k} ${state(i)}`).join('\n')}\n`;
}

/**
 * The whole haproxy.cfg for a proxy on `port` in front of `upstream` (host:port). With a
 * refusal setup, the checks run in the order every gateway here uses: the blocked IP
 * (403), then the key's state from `mapFile` (unknown 401, suspended 403), then the rate.
 */
export function haproxyConf(
  port: number,
  upstream: string,
  limit: Limit,
  refusal?: { kind: RefusalKind; mapFile: string },
): string {
  const { max, period } = haproxyWindow(limit);
  const checks =
    refusal === undefined
      ? []
      : [
          ...(refusal.kind === 'blocked-ip'
            ? [`http-request deny deny_status 403 if { src ${FLOOD_IP} }`]
            : []),
          `http-request set-var(txn.key_state) req.hdr(x-api-key),map(${refusal.mapFile},unknown)`,
          'http-request deny deny_status 401 if { var(txn.key_state) -m str unknown }',
          'http-request deny deny_status 403 if { var(txn.key_state) -m str suspended }',
        ];
  return `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
  option http-keep-alive
  http-reuse always
frontend api
  bind 127.0.0.1:${port}
  stick-table type string len 128 size 1m expire 2m store http_req_rate(${period})
${checks.map((c) => `  ${c}\n`).join('')}  http-request track-sc0 req.hdr(x-api-key)
  http-request deny deny_status 429 if { sc_http_req_rate(0) gt ${max} }
  default_backend upstream
backend upstream
  server up ${upstream}
`;
}

/** Why HAProxy cannot run here, or undefined. */
export function haproxyUnavailable(): string | undefined {
  const r = runBounded('haproxy', ['-v'], { timeoutMs: 5000 });
  return r.status === 0 && !r.failed
    ? undefined
    : 'haproxy is not installed (apt-get install -y haproxy)';
}

/** Starts HAProxy (pinned to core 0, in the foreground) with a fresh config in a temp dir. */
export async function startHaproxy(upstreamUrl: string, limit: Limit, refusal?: HaproxyRefusal) {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-haproxy-'));
  await chmod(dir, 0o755);
  const port = await freePort();
  const mapFile = join(dir, 'keys.map');
  if (refusal !== undefined) await writeFile(mapFile, haproxyKeysMap(refusal));
  const conf = join(dir, 'haproxy.cfg');
  const upstream = new URL(upstreamUrl).host;
  await writeFile(
    conf,
    haproxyConf(port, upstream, limit, refusal && { kind: refusal.kind, mapFile }),
  );
  // -db: foreground, no daemon; -f: the config. Its one process is the pid stopped.
  const child = spawnPinned(0, 'haproxy', ['-db', '-f', conf], { name: 'haproxy' });
  const url = `http://127.0.0.1:${port}`;
  let ended = false;
  void child.exited().then(() => {
    ended = true;
  });
  const stop = async () => {
    await child.stop();
    await rm(dir, { recursive: true, force: true });
  };
  // Any answer means HAProxy is listening.
  if (!(await waitForHttp(`${url}/healthz`, { timeoutMs: 10_000, gaveUp: () => ended }))) {
    const out = child.output();
    await stop();
    throw new Error(`haproxy did not start: ${out.trim().slice(-500)}`);
  }
  return { url, stop, pid: child.pid };
}
