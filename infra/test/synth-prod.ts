// Synthesizes a production-like stage (PROD_CONFIG: front door, subscriber, pinned account) into
// the directory given, so scripts/test-infra can cfn-lint the template a real stage would deploy
// (CloudFront, WAF, custom domain) beside the dev one. Not a test file (no .test.ts).
import { App, Validations } from 'aws-cdk-lib';
import { ServerlessChecks } from 'cdk-nag';
import { PortalStack } from '../lib/portal-stack';
import { PURGE_FUNCTION, ROTATE_KEY_FUNCTION, loadRouteTable } from '../lib/routes';
import { fakeBuilds, PROD_CONFIG } from './fixtures';

const outdir = process.argv[2];
if (!outdir) throw new Error('usage: synth-prod.ts OUTDIR');
const app = new App({ outdir, context: { stage: 'prod' } });
const functions = [...loadRouteTable().functions, PURGE_FUNCTION, ROTATE_KEY_FUNCTION];
new PortalStack(app, 'portal-prod-fixture', { stage: 'prod', config: PROD_CONFIG, lambdaDir: fakeBuilds(functions) });
Validations.of(app).addPlugins(new ServerlessChecks(app));
app.synth();
