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
import type { Limit } from '../lib/target-types.ts';

/** `10/min` → `10r/m`; whole per-second rates as `r/s` (nginx takes only these two). */
export function nginxRate(perMinute: number): string {
  return perMinute % 60 === 0 ? `${perMinute / 60}r/s` : `${perMinute}r/m`;
}

/** The whole nginx.conf for a proxy on `port` in front of `upstream` (host:port). */
export function nginxConf(dir: string, port: number, upstream: string, limit: Limit): string {
  return `worker_processes 1;
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
  limit_req_zone $http_x_api_key zone=k:10m rate=${nginxRate(limit.perMinute)};
  limit_req_status 429;
  upstream api {
    server ${upstream};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      limit_req zone=k burst=${limit.burst} nodelay;
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

/** Starts nginx (pinned to core 0) with a fresh config in a temp dir. */
export async function startNginx(upstreamUrl: string, limit: Limit) {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-nginx-'));
  // nginx's worker may run as another user: it must read the config and temp paths.
  await chmod(dir, 0o755);
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, nginxConf(dir, port, new URL(upstreamUrl).host, limit));
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
