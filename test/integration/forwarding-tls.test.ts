/**
 * With the client's Host kept (server.preserveHost), an https upstream is still reached
 * by its own name: TLS (SNI and the certificate check) is about the upstream, never the
 * Host a client sent. A real gateway process trusts a certificate made for this test
 * (NODE_EXTRA_CA_CERTS), in front of a real node:https upstream on loopback.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { startGateway, tempDir, writePolicy } from '../helpers/gateway-process.ts';
import { call } from '../helpers/http.ts';

const OPENSSL = spawnSync('openssl', ['version']).status === 0;

test('an https upstream gets its own name in SNI and the client Host in Host', {
  skip: OPENSSL ? false : 'openssl is needed to make a test certificate',
}, async () => {
  const dir = tempDir('sluice-tls-');
  const made = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
      '-keyout',
      `${dir}/key.pem`,
      '-out',
      `${dir}/cert.pem`,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  assert.equal(made.status, 0, made.stderr);
  const seen: { host?: string; sni: string | false | null }[] = [];
  const upstream = createServer(
    { key: readFileSync(`${dir}/key.pem`), cert: readFileSync(`${dir}/cert.pem`) },
    (req, res) => {
      seen.push({ host: req.headers.host, sni: (req.socket as TLSSocket).servername });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    },
  );
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  const policy = writePolicy(dir, `server:\n  upstream: https://localhost:${port}\n`);
  const gateway = await startGateway(['--config', policy, '--data', dir], {
    env: { NODE_EXTRA_CA_CERTS: `${dir}/cert.pem` },
  });
  try {
    for (const host of ['api.example.com', 'other.example.org']) {
      const answer = await call(`${gateway.url}/items`, { headers: { host } });
      assert.equal(answer.status, 200, answer.body);
    }
    assert.deepEqual(seen, [
      { host: 'api.example.com', sni: 'localhost' },
      { host: 'other.example.org', sni: 'localhost' },
    ]);
  } finally {
    await gateway.stop();
    upstream.closeAllConnections();
    await new Promise((r) => upstream.close(r));
  }
});
