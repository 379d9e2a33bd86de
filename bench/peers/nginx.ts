/**
 * nginx with `limit_req` as a reverse proxy: the industry baseline. One worker (it gets
 * one core, like every gateway here), keep-alive connections to the upstream, and a
 * `limit_req_zone` keyed by the `X-API-Key` header.
 *
 * @example
 *   const running = await startNginx('http://127.0.0.1:4000', HIGH_LIMIT);
 *   // … load running.url …
 *   await running.stop();
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForHttp } from '../lib/net.ts';
import { runBounded, spawnPinned } from '../lib/procs.ts';
import { FLOOD_IP, type Limit, type RefusalKind } from '../lib/target-types.ts';

/** What nginx needs to answer one refusal kind: the kind, and the valid keys (the first floods). */
export interface NginxRefusal {
  readonly kind: RefusalKind;
  readonly keys: readonly string[];
}

/**
 * The refusal kinds in nginx's terms: a `map` of the valid keys to their state (a key not
 * in it: `return 401`; the suspended one: `return 403`), `deny` for the blocked IP (its
 * requests keep out of `limit_req`, which runs before `deny`, so they are answered 403,
 * not 429), and `limit_req` as always for the rate. Returns the http-level and the
 * location-level lines.
 */
export function nginxRefusalConf(r: NginxRefusal | undefined): { http: string; location: string } {
  if (r === undefined) {
    return { http: 'limit_req_zone $http_x_api_key zone=k:10m', location: '' };
  }
  const state = (key: string, i: number) =>
    `    "${key}" ${i === 0 && r.kind === 'suspended' ? 'suspended' : 'ok'};`;
  const blocked = r.kind === 'blocked-ip';
  const http = [
    'map_hash_max_size 262144;',
    '  map $http_x_api_key $key_state {',
    '    default unknown;',
    ...r.keys.map(state),
    '  }',
    ...(blocked
      ? [
          '  map $remote_addr $limit_key {',
          `    "${FLOOD_IP}" "";`,
          '    default $http_x_api_key;',
          '  }',
        ]
      : []),
    `  limit_req_zone ${blocked ? '$limit_key' : '$http_x_api_key'} zone=k:10m`,
  ].join('\n');
  const location = [
    ...(blocked ? [`deny ${FLOOD_IP};`] : []),
    'if ($key_state = unknown) { return 401; }',
    'if ($key_state = suspended) { return 403; }',
  ]
    .map((l) => `      ${l}\n`)
    .join('');
  return { http, location };
}

/** `10/min` → `10r/m`; whole per-second rates as `r/s` (nginx takes only these two). */
export function nginxRate(perMinute: number): string {
  return perMinute % 60 === 0 ? `${perMinute / 60}r/s` : `${perMinute}r/m`;
}

/** The whole nginx.conf for a proxy on `port` in front of `upstream` (host:port). */
export function nginxConf(
  dir: string,
  port: number,
  upstream: string,
  limit: Limit,
  refusal?: NginxRefusal,
  workers = 1,
): string {
  const r = nginxRefusalConf(refusal);
  return `worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  ${r.http} rate=${nginxRate(limit.perMinute)};
  limit_req_status 429;
  upstream api {
    server ${upstream};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
${r.location}      limit_req zone=k burst=${limit.burst} nodelay;
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** Why nginx cannot run here, or undefined. */
export function nginxUnavailable(): string | undefined {
  const r = runBounded('nginx', ['-v'], { timeoutMs: 5000 });
  return r.status === 0 && !r.failed
    ? undefined
    : 'nginx is not installed (apt-get install -y nginx)';
}

/**
 * Starts nginx (pinned to core 0 while the harness pins) with a fresh config in a temp
 * dir; `workers`: `worker_processes` (the threads scenario's second row: 2).
 */
export async function startNginx(
  upstreamUrl: string,
  limit: Limit,
  refusal?: NginxRefusal,
  workers = 1,
) {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-nginx-'));
  // nginx's worker may run as another user: it must read the config and temp paths.
  await chmod(dir, 0o755);
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, nginxConf(dir, port, new URL(upstreamUrl).host, limit, refusal, workers));
  const child = spawnPinned(
    0,
    'nginx',
    ['-e', join(dir, 'error.log'), '-p', dir, '-c', conf, '-g', 'daemon off;'],
    { name: 'nginx' },
  );
  const url = `http://127.0.0.1:${port}`;
  let ended = false;
  void child.exited().then(() => {
    ended = true;
  });
  const stop = async () => {
    await child.stop();
    await rm(dir, { recursive: true, force: true });
  };
  // Any answer (the upstream's 404 for `/`) means nginx is listening and proxying.
  if (!(await waitForHttp(`${url}/healthz`, { timeoutMs: 10_000, gaveUp: () => ended }))) {
    const out = child.output();
    await stop();
    throw new Error(`nginx did not start: ${out.trim().slice(-500)}`);
  }
  return { url, stop, pid: child.pid };
}
