// Per-stage configuration: one typed, committed record per stage (infra/lib/stages.ts), so that
// a deploy never depends on `-c` values somebody has to remember. `dev` may fall back on
// placeholders (and on context overrides, for experiments); every other stage must name each
// value itself, and synth fails with a message listing what is missing or still a placeholder.

/** The public entry of a stage: CloudFront with WAF on `domainName`, the API behind it. */
export interface FrontDoorConfig {
  /** The name people use, e.g. `portal.splash.example` (a CloudFront alias). */
  readonly domainName: string;
  /** ACM certificate for `domainName`, in us-east-1 (CloudFront only takes certificates there). */
  readonly certificateArn: string;
  /**
   * The API's own custom domain, which only CloudFront uses (e.g. `origin.portal.splash.example`):
   * with it the default `execute-api` endpoint is switched off.
   */
  readonly originDomainName: string;
  /** ACM certificate for `originDomainName`, in the stack's region. */
  readonly originCertificateArn: string;
}

export interface StageConfig {
  /** AWS account the stage deploys to (pinned: a deploy with other credentials fails). */
  readonly account?: string;
  /** AWS region the stage deploys to (dev: us-east-1 unless its entry says otherwise). */
  readonly region?: string;
  /** Where the hosted pages and links in messages point (the front door's URL outside dev). */
  readonly portalUrl: string;
  /** The SES domain identity (DKIM records are stack outputs). */
  readonly mailDomain: string;
  /** Sender address; default `no-reply@<mailDomain>`. */
  readonly mailFrom?: string;
  /** Who receives the alarms (an email subscription of the alarm topic). */
  readonly alarmEmail?: string;
  /** The purge job's schedule. */
  readonly purgeSchedule: string;
  /** The stage's default API throttle (per route, all clients together). */
  readonly throttleRateLimit: number;
  readonly throttleBurstLimit: number;
  /** SNS SMS spend (USD, month to date) that raises an alarm: set it below the account's SMS spend limit. */
  readonly smsMonthlySpendAlarmUsd: number;
  /** CloudFront + WAF + custom domains; without it (dev only) the API is reached on execute-api. */
  readonly frontDoor?: FrontDoorConfig;
  /** Days between signing-key rotations (see functions/rotate-key). */
  readonly keyRotationDays: number;
}

/** What `dev` uses where it names nothing: placeholders, refused on every other stage. */
export const DEV_DEFAULTS: StageConfig = {
  region: 'us-east-1',
  portalUrl: 'https://portal.example.com',
  mailDomain: 'example.com',
  purgeSchedule: 'rate(1 hour)',
  throttleRateLimit: 100,
  throttleBurstLimit: 200,
  smsMonthlySpendAlarmUsd: 10,
  // Retired keys still verify for 400 days (functions/rotate-key), so rotating often adds
  // little and grows the ring: every 90 days keeps it at about six keys.
  keyRotationDays: 90,
};

/** Values every stage but dev must set itself. */
const REQUIRED_OUTSIDE_DEV = ['account', 'region', 'portalUrl', 'mailDomain', 'alarmEmail', 'frontDoor'] as const;

/** Keys that may fall back on DEV_DEFAULTS everywhere (operational knobs, not identities). */
const DEFAULTABLE = ['purgeSchedule', 'throttleRateLimit', 'throttleBurstLimit', 'smsMonthlySpendAlarmUsd', 'keyRotationDays'] as const;

/** Placeholder domains (RFC 2606) and account ids that must never reach a real stage. */
const PLACEHOLDER = /(^|[.@/])(example\.(com|net|org)|[a-z0-9-]+\.(test|example|invalid|localhost))($|[/:])/;

export class StageConfigError extends Error {}

/**
 * The stage's configuration: the committed record, completed from DEV_DEFAULTS (all of it on
 * dev; only the operational knobs elsewhere), with context overrides on dev only. Throws a
 * StageConfigError naming every missing or placeholder value.
 */
export function resolveStageConfig(
  stage: string,
  committed: Readonly<Record<string, Partial<StageConfig>>>,
  contextOverrides: Partial<Record<keyof StageConfig, unknown>> = {},
): StageConfig {
  const own = committed[stage];
  if (own === undefined) {
    throw new StageConfigError(`stage ${stage} has no entry in infra/lib/stages.ts (known: ${Object.keys(committed).join(', ')})`);
  }
  const overrides = Object.fromEntries(Object.entries(contextOverrides).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  if (stage === 'dev') {
    return { ...DEV_DEFAULTS, ...own, ...coerce(overrides) };
  }
  if (Object.keys(overrides).length > 0) {
    throw new StageConfigError(
      `stage ${stage}: context values ${Object.keys(overrides).join(', ')} are not accepted outside dev; commit them in infra/lib/stages.ts`,
    );
  }
  const problems: string[] = [];
  for (const key of REQUIRED_OUTSIDE_DEV) {
    const value = own[key];
    if (value === undefined || value === '') problems.push(`${key} is missing`);
  }
  for (const [key, value] of Object.entries(own)) {
    const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
    if (PLACEHOLDER.test(text) || /\b0{12}\b/.test(text)) problems.push(`${key} is a placeholder (${text})`);
  }
  if (own.frontDoor) {
    for (const k of ['domainName', 'certificateArn', 'originDomainName', 'originCertificateArn'] as const) {
      if (!own.frontDoor[k]) problems.push(`frontDoor.${k} is missing`);
    }
    if (own.frontDoor.certificateArn && !own.frontDoor.certificateArn.startsWith('arn:aws:acm:us-east-1:')) {
      problems.push('frontDoor.certificateArn must be an ACM certificate in us-east-1 (CloudFront takes no other)');
    }
  }
  if (own.frontDoor && own.region && own.region !== 'us-east-1') {
    // A CloudFront web ACL can only be created in us-east-1, and this stack creates it.
    problems.push(`region must be us-east-1 with a frontDoor (the CloudFront web ACL lives there), not ${own.region}`);
  }
  if (problems.length > 0) {
    throw new StageConfigError(`stage ${stage} cannot be synthesized: ${problems.join('; ')} (set them in infra/lib/stages.ts)`);
  }
  const defaults = Object.fromEntries(DEFAULTABLE.map((k) => [k, DEV_DEFAULTS[k]]));
  return { ...defaults, ...own } as StageConfig;
}

/** Context values arrive as strings; the numeric keys become numbers. */
function coerce(overrides: Record<string, unknown>): Partial<StageConfig> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(overrides)) {
    const numeric = ['throttleRateLimit', 'throttleBurstLimit', 'smsMonthlySpendAlarmUsd', 'keyRotationDays'].includes(k);
    out[k] = numeric ? Number(v) : v;
    if (numeric && !Number.isFinite(out[k])) throw new StageConfigError(`context ${k} must be a number, not ${JSON.stringify(v)}`);
  }
  return out as Partial<StageConfig>;
}

/** The context keys a dev synth may override (`-c portalUrl=...`). */
export const CONTEXT_KEYS: readonly (keyof StageConfig)[] = [
  'portalUrl',
  'mailDomain',
  'mailFrom',
  'alarmEmail',
  'purgeSchedule',
  'throttleRateLimit',
  'throttleBurstLimit',
  'smsMonthlySpendAlarmUsd',
  'keyRotationDays',
];
