// CDK app entry point: `npx cdk synth -c stage=prod` (stage defaults to dev).
// Other context keys: portalUrl, mailDomain, mailFrom, purgeSchedule, alarmEmail, architecture,
// routesFile, lambdaDir, requireBinaries (set it for deploys), throttleRateLimit, throttleBurstLimit.
import { App } from 'aws-cdk-lib';
import { PortalStack } from '../lib/portal-stack';

const app = new App();
const stage = String(app.node.tryGetContext('stage') ?? 'dev');
if (!/^[a-z][a-z0-9-]{0,20}$/.test(stage)) throw new Error(`context stage must match ^[a-z][a-z0-9-]{0,20}$, not ${JSON.stringify(stage)}`);

new PortalStack(app, `portal-${stage}`, {
  stage,
  description: `portal identity backend (${stage})`,
  // Environment-agnostic unless the CLI provides one at deploy time.
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
