// CDK app entry point: `npx cdk synth -c stage=prod` (stage defaults to dev).
// A stage's configuration is committed in lib/stages.ts (see lib/config.ts); only dev takes
// overrides from context (portalUrl, mailDomain, mailFrom, alarmEmail, purgeSchedule, ...).
// Other context keys: routesFile, lambdaDir, requireBinaries.
// cdk-nag's serverless rules check every synth: an unacknowledged finding fails it.
import { App, Validations } from 'aws-cdk-lib';
import { ServerlessChecks } from 'cdk-nag';
import { StageConfigError } from '../lib/config';
import { PortalStack } from '../lib/portal-stack';

const app = new App();
const stage = String(app.node.tryGetContext('stage') ?? 'dev');
if (!/^[a-z][a-z0-9-]{0,20}$/.test(stage)) throw new Error(`context stage must match ^[a-z][a-z0-9-]{0,20}$, not ${JSON.stringify(stage)}`);

try {
  new PortalStack(app, `portal-${stage}`, { stage, description: `portal identity backend (${stage})` });
} catch (e) {
  if (e instanceof StageConfigError) {
    console.error(e.message);
    process.exit(1);
  }
  throw e;
}
Validations.of(app).addPlugins(new ServerlessChecks(app));
