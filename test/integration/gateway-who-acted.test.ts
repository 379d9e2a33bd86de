/**
 * Every explanation of a block or a key status names who acted, from the stored actor:
 * an operator with the CLI (`sluice ips block`, `sluice keys revoke`) or through the
 * admin API, never "a safeguard" for what a person did. Real gateway, real CLI.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  createKey,
  type DemoGateway,
  type GatewayProcess,
  sluice,
  startDemoGateway,
} from '../helpers/gateway-process.ts';
import { type Answer, bearer, call, eventually } from '../helpers/http.ts';

const TOKEN = 'admin-token-for-tests-0123456789';
let demo: DemoGateway;
let gateway: GatewayProcess;
let dataDir: string;

before(async () => {
  demo = await startDemoGateway({
    policy: 'server:\n  trustedProxies: [127.0.0.1]\n',
    args: ['--admin', '127.0.0.1:0'],
    env: { SLUICE_ADMIN_TOKEN: TOKEN },
  });
  ({ gateway, dataDir } = demo);
});

after(() => demo?.stop());

/** The first 403 of `path` with these headers (the gateway picks changes up by polling). */
function refused(headers: Record<string, string>): Promise<Answer> {
  return eventually(async () => {
    const a = await call(`${gateway.url}/api/whoami`, { headers });
    return a.status === 403 ? a : undefined;
  });
}

/** What `sluice incident` says about a refusal, once the incident is written. */
function incidentText(answer: Answer): Promise<string> {
  const { reference } = answer.json<{ reference: string }>();
  return eventually(async () => {
    const shown = await sluice(['incident', reference, '--data', dataDir]);
    return shown.code === 0 ? shown.stdout : undefined;
  });
}

test('an IP blocked with `sluice ips block` is explained as an operator block, not a safeguard', async () => {
  const ip = '198.51.100.23';
  const blocked = await sluice(['ips', 'block', ip, '--reason', 'test', '--data', dataDir], {
    env: { USER: 'alice' },
  });
  assert.equal(blocked.code, 0, blocked.stderr);
  const answer = await refused({ 'x-forwarded-for': ip });
  assert.equal(answer.json<{ rule: string }>().rule, 'ip-blocked');
  const text = await incidentText(answer);
  assert.match(text, /An operator \(alice\) with the sluice CLI blocked this address \(test\)/);
  assert.doesNotMatch(text, /A safeguard blocked/);
  assert.doesNotMatch(text, /kept sending requests/);
});

test('a key revoked through the admin API, or with the CLI, is explained with who revoked it', async () => {
  const viaAdmin = await createKey(dataDir, 'acct-admin');
  const revoked = await call(`${gateway.adminUrl}/admin/keys/${viaAdmin.id}/revoke`, {
    method: 'POST',
    body: JSON.stringify({ reason: 'ticket 7', actor: 'dana' }),
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
  });
  assert.equal(revoked.status, 200, revoked.body);
  const byAdmin = await incidentText(await refused(bearer(viaAdmin.key)));
  assert.match(
    byAdmin,
    /The key was revoked by an operator \(dana\) through the admin API \(ticket 7\)/,
  );

  const viaCli = await createKey(dataDir, 'acct-cli');
  const cli = await sluice(
    ['keys', 'revoke', viaCli.id, '--reason', 'ticket 8', '--data', dataDir],
    {
      env: { USER: 'alice' },
    },
  );
  assert.equal(cli.code, 0, cli.stderr);
  const byCli = await incidentText(await refused(bearer(viaCli.key)));
  assert.match(
    byCli,
    /The key was revoked by an operator \(alice\) with the sluice CLI \(ticket 8\)/,
  );
});
