/**
 * An https upstream is reached by its own name, in-process (where the mutation runs see
 * it; forwarding-tls.test.ts checks the same on a spawned gateway): the TLS server name
 * and the certificate check are the upstream's, never the Host a client sent, and an
 * IPv6 literal upstream (`https://[::1]:port`) is checked against its address without
 * the brackets. The test process trusts a certificate made here for localhost and ::1.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { getCACertificates, setDefaultCACertificates, type TLSSocket } from 'node:tls';
import { tempDir } from '../helpers/gateway-process.ts';
import { startInProcessGateway } from '../helpers/in-process-gateway.ts';

const OPENSSL = spawnSync('openssl', ['version']).status === 0;
const skip = OPENSSL ? false : 'openssl is needed to make a test certificate';

let cert = '';
let key = '';
before(() => {
  if (!OPENSSL) return;
  const dir = tempDir('sluice-tls-');
  const made = spawnSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1'],
      ...['-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:::1'],
      ...['-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`],
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  assert.equal(made.status, 0, made.stderr);
  cert = readFileSync(`${dir}/cert.pem`, 'utf8');
  key = readFileSync(`${dir}/key.pem`, 'utf8');
  setDefaultCACertificates([...getCACertificates('default'), cert]);
});
after(() => {
  if (OPENSSL) setDefaultCACertificates(getCACertificates('bundled'));
});

/** A node:https upstream on `host` that records the Host and TLS server name of each request. */
async function tlsUpstream(t: { after(fn: () => void): void }, host: string) {
  const seen: { host?: string; sni: string | false | null }[] = [];
  const upstream = createServer({ key, cert }, (req, res) => {
    seen.push({ host: req.headers.host, sni: (req.socket as TLSSocket).servername });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((resolve) => upstream.listen(0, host, resolve));
  t.after(() => upstream.close());
  return { seen, port: (upstream.address() as AddressInfo).port };
}

test('https upstream by name: its name in SNI and the certificate check, the client Host kept', {
  skip,
}, async (t) => {
  const up = await tlsUpstream(t, '127.0.0.1');
  const g = await startInProcessGateway({
    upstream: `https://localhost:${up.port}`,
    policy: 'server:\n  preserveHost: true\n',
  });
  t.after(() => g.close());
  for (const host of ['api.example.com', 'other.example.org']) {
    const answer = await g.call('/api/companies', { headers: { host } });
    assert.equal(answer.status, 200, answer.body);
  }
  assert.deepEqual(up.seen, [
    { host: 'api.example.com', sni: 'localhost' },
    { host: 'other.example.org', sni: 'localhost' },
  ]);
});

test('https upstream on an IPv6 literal: checked against its address, without the brackets', {
  skip,
}, async (t) => {
  let up: Awaited<ReturnType<typeof tlsUpstream>>;
  try {
    up = await tlsUpstream(t, '::1');
  } catch {
    t.skip('no IPv6 loopback here');
    return;
  }
  const g = await startInProcessGateway({ upstream: `https://[::1]:${up.port}` });
  t.after(() => g.close());
  const answer = await g.call('/api/companies');
  assert.equal(answer.status, 200, answer.body);
  // Asked as `[::1]`, the certificate check would fail (502): the address, unbracketed.
  assert.equal(up.seen.length, 1);
  assert.equal(up.seen[0]?.sni, '::1');
});
