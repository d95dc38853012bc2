// Fixtures shared by the stack tests and scripts/test-infra's prod-like synth (test/synth-prod.ts).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { StageConfig } from '../lib/config';
import { functionArchitecture } from '../lib/portal-stack';

/** A complete production configuration, as a stage would commit it (made-up account and names). */
export const PROD_CONFIG: StageConfig = {
  account: '111122223333',
  region: 'us-east-1',
  portalUrl: 'https://portal.splashswim.com',
  mailDomain: 'splashswim.com',
  alarmEmail: 'oncall@splashswim.com',
  purgeSchedule: 'rate(1 hour)',
  throttleRateLimit: 100,
  throttleBurstLimit: 200,
  smsMonthlySpendAlarmUsd: 200,
  keyRotationDays: 90,
  frontDoor: {
    domainName: 'portal.splashswim.com',
    certificateArn: 'arn:aws:acm:us-east-1:111122223333:certificate/11111111-2222-3333-4444-555555555555',
    originDomainName: 'origin.portal.splashswim.com',
    originCertificateArn: 'arn:aws:acm:us-east-1:111122223333:certificate/66666666-7777-8888-9999-000000000000',
  },
};

/**
 * A lambdaDir with a (tiny, fake) ELF bootstrap per function for its architecture: stages other
 * than dev refuse stub binaries, so their synth needs "builds".
 */
export function fakeBuilds(functions: readonly string[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'portal-infra-fake-builds-'));
  for (const name of functions) {
    const header = Buffer.alloc(64);
    header.writeUInt32BE(0x7f454c46, 0); // \x7fELF
    header[4] = 2; // 64-bit
    header[5] = 1; // little endian
    header.writeUInt16LE(functionArchitecture(name).name === 'arm64' ? 0xb7 : 0x3e, 18);
    mkdirSync(path.join(dir, name));
    writeFileSync(path.join(dir, name, 'bootstrap'), header, { mode: 0o755 });
  }
  return dir;
}

