// Stack tests: `node --import tsx --test test/*.test.ts`. They read the real routes.json, so a
// route added in Rust and missing from the stack (or the reverse) fails here.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { ACCESS_LOG_FIELDS, SENSITIVE_BURST_LIMIT, SENSITIVE_RATE_LIMIT, SENSITIVE_ROUTES, FUNCTION_PERMISSIONS, functionMemoryMiB, functionTimeoutSeconds, PortalStack } from '../lib/portal-stack';
import { DEFAULT_ROUTES_FILE, loadRouteTable, PURGE_FUNCTION, type RouteTable, routeKey, variableNameConflicts } from '../lib/routes';

const table = loadRouteTable(DEFAULT_ROUTES_FILE);
// A lambdaDir that never holds builds, so the tests do not depend on (or hash) release binaries.
const NO_BUILDS = path.join(tmpdir(), 'portal-infra-test-no-lambda-builds');

type Synth = { stack: PortalStack; template: Template; json: { Resources: Record<string, { Type: string; Properties: any }> } };

function synth(stage: string, context: Record<string, unknown> = {}, routeTable?: RouteTable): Synth {
  const app = new App({ context: { stage, ...context } });
  const stack = new PortalStack(app, `portal-${stage}`, { stage, lambdaDir: NO_BUILDS, routeTable });
  const template = Template.fromStack(stack);
  return { stack, template, json: template.toJSON() as Synth['json'] };
}

// The real table (whatever the Rust code generated) ...
const dev = synth('dev');
const prod = synth('prod');
// ... and one with every function that FUNCTION_PERMISSIONS knows (one made-up route each), so the
// permission tests cover every function even while routes.json lists only some of them.
const FULL_TABLE: RouteTable = {
  functions: Object.keys(FUNCTION_PERMISSIONS),
  routes: Object.keys(FUNCTION_PERMISSIONS).map((f) => ({ method: 'POST' as const, path: `/a/{account}/fixture/${f}`, function: f })),
};
const full = synth('dev', {}, FULL_TABLE);
const templateJson = dev.json;
/** What active tracing adds to every function's role (sending its trace segments). */
const XRAY_ACTIONS = ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'];

function resourcesOfType(type: string, s: Synth = dev) {
  return Object.entries(s.json.Resources).filter(([, r]) => r.Type === type);
}

/** All statements of the IAM policies attached to a function's role. */
function statementsOf(name: string, s: Synth = full): any[] {
  const fn = s.stack.functions[name];
  assert.ok(fn, `no function ${name}`);
  const cfn = fn.node.defaultChild as CfnFunction;
  const roleRef = Stack.of(fn).resolve(cfn.role) as { 'Fn::GetAtt': [string, string] };
  const roleId = roleRef['Fn::GetAtt'][0];
  return resourcesOfType('AWS::IAM::Policy', s)
    .filter(([, p]) => (p.Properties.Roles as any[]).some((r) => r.Ref === roleId))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as any[]);
}

function allowedActions(name: string, s: Synth = full): string[] {
  return statementsOf(name, s)
    .filter((st) => st.Effect === 'Allow')
    .flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action]));
}

function logicalId(name: string, s: Synth = dev): string {
  return s.stack.getLogicalId(s.stack.functions[name].node.defaultChild as CfnFunction);
}

const httpFunctions = table.functions;
const allFunctions = [...httpFunctions, PURGE_FUNCTION];
const everyHttpFunction = FULL_TABLE.functions;
const everyFunction = [...everyHttpFunction, PURGE_FUNCTION];

describe('routes', () => {
  test('API routes are exactly the routes of routes.json', () => {
    const deployed = resourcesOfType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties.RouteKey as string);
    const expected = table.routes.map(routeKey);
    assert.equal(deployed.length, expected.length, 'one API route per routes.json entry');
    assert.deepEqual(new Set(deployed), new Set(expected));
  });

  test('every route is integrated with the function routes.json names', () => {
    const integrationFn = new Map<string, string>();
    for (const [id, i] of resourcesOfType('AWS::ApiGatewayV2::Integration')) {
      assert.equal(i.Properties.IntegrationType, 'AWS_PROXY');
      assert.equal(i.Properties.PayloadFormatVersion, '2.0');
      integrationFn.set(id, i.Properties.IntegrationUri['Fn::GetAtt'][0]);
    }
    for (const [, r] of resourcesOfType('AWS::ApiGatewayV2::Route')) {
      const entry = table.routes.find((e) => routeKey(e) === r.Properties.RouteKey)!;
      const integrationId = r.Properties.Target['Fn::Join'][1][1].Ref as string;
      assert.equal(integrationFn.get(integrationId), logicalId(entry.function), `${r.Properties.RouteKey} -> ${entry.function}`);
    }
  });

  test("every route's function is in functions", () => {
    const fns = new Set(table.functions);
    for (const r of table.routes) assert.ok(fns.has(r.function), `${routeKey(r)} -> ${r.function}`);
  });

  test('every path is under /a/{account}', () => {
    for (const r of table.routes) assert.match(r.path, /^\/a\/\{account\}(\/|$)/);
  });
});

describe('functions', () => {
  test('one Lambda per functions entry plus purge', () => {
    const fns = resourcesOfType('AWS::Lambda::Function');
    assert.equal(fns.length, allFunctions.length);
    assert.deepEqual(Object.keys(dev.stack.functions).sort(), [...allFunctions].sort());
    for (const name of allFunctions) assert.ok(templateJson.Resources[logicalId(name)], name);
  });

  test('runtime, handler, memory, timeout, environment', () => {
    for (const name of allFunctions) {
      const props = templateJson.Resources[logicalId(name)].Properties;
      assert.equal(props.Runtime, 'provided.al2023', name);
      assert.equal(props.Handler, 'bootstrap', name);
      const purge = name === PURGE_FUNCTION;
      assert.equal(props.MemorySize, purge ? 256 : functionMemoryMiB(name), name);
      if (name === 'login') assert.equal(props.MemorySize, 1769, 'login verifies argon2 on every request: a full vCPU');
      assert.equal(props.Timeout, purge ? 300 : functionTimeoutSeconds(name), name);
      if (name === 'login') assert.equal(props.Timeout, 25, 'a login may wait for a lockout slot');
      if (name === 'office') assert.equal(props.Timeout, 10, name);
      const env = props.Environment.Variables;
      assert.ok(env.TABLE_NAME, name);
      assert.equal(env.RUST_LOG, 'info');
      if (purge) {
        assert.equal(env.SIGNING_KEY_SECRET_ARN, undefined);
      } else {
        assert.deepEqual(
          Object.keys(env).sort(),
          ['MAIL_FROM', 'PORTAL_URL', 'RUST_LOG', 'SIGNING_KEY_SECRET_ARN', 'TABLE_NAME'],
          name,
        );
        assert.equal(env.PORTAL_URL, 'https://portal.example.com');
        assert.equal(env.MAIL_FROM, 'no-reply@example.com');
      }
    }
  });

  test('context overrides portalUrl and mailFrom', () => {
    const { stack } = synth('staging', { portalUrl: 'https://p.test', mailFrom: 'a@m.test' });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PORTAL_URL: 'https://p.test', MAIL_FROM: 'a@m.test' }) },
    });
  });

  test('every function has a log group with retention (1 month dev, 1 year otherwise)', () => {
    // (+1: the API's access logs, same retention.)
    dev.template.resourceCountIs('AWS::Logs::LogGroup', allFunctions.length + 1);
    dev.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    prod.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
    for (const name of allFunctions) {
      assert.ok(templateJson.Resources[logicalId(name)].Properties.LoggingConfig.LogGroup.Ref, name);
    }
  });

  test('three alarms per function: errors, throttles, p99 duration > 80% of timeout', () => {
    // (+2: purge's failed-run queue and its not-run alarm, see the purge tests; +2: the API's
    // 5xx and latency, see the signals tests.)
    dev.template.resourceCountIs('AWS::CloudWatch::Alarm', allFunctions.length * 3 + 4);
    dev.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Duration',
      ExtendedStatistic: 'p99',
      Threshold: functionTimeoutSeconds(httpFunctions[0]) * 800,
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(httpFunctions[0]) } }],
    });
    dev.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Duration',
      Threshold: 240000,
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(PURGE_FUNCTION) } }],
    });
    for (const metric of ['Errors', 'Throttles']) {
      const alarms = resourcesOfType('AWS::CloudWatch::Alarm').filter(([, a]) => a.Properties.MetricName === metric);
      assert.equal(alarms.length, allFunctions.length, metric);
      for (const [, a] of alarms) {
        assert.equal(a.Properties.Threshold, 0);
        assert.equal(a.Properties.Period, 300);
        assert.equal(a.Properties.ComparisonOperator, 'GreaterThanThreshold');
      }
    }
  });
});

describe('table', () => {
  // exp_bucket stays a number when sharded (hour × 16 + shard): changing its type or the index's
  // keys would make CloudFormation replace the index, which it cannot do in one update.
  test('keys, billing, TTL, PITR and the expiry GSI', () => {
    dev.template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'exp_bucket', AttributeType: 'N' },
        { AttributeName: 'expires_at', AttributeType: 'N' },
      ]),
      TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
      GlobalSecondaryIndexes: [
        {
          IndexName: 'expiry',
          KeySchema: [
            { AttributeName: 'exp_bucket', KeyType: 'HASH' },
            { AttributeName: 'expires_at', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['v'] },
        },
      ],
      Replicas: [Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } })],
    });
  });

  test('deletion protection and retention on prod, off on dev', () => {
    prod.template.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ Replicas: [Match.objectLike({ DeletionProtectionEnabled: true })] }),
    });
    dev.template.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ Replicas: [Match.objectLike({ DeletionProtectionEnabled: false })] }),
    });
    prod.template.hasResource('AWS::SecretsManager::Secret', { DeletionPolicy: 'Retain' });
  });
});

describe('signals', () => {
  test('every function logs JSON and is traced by X-Ray', () => {
    for (const name of allFunctions) {
      const props = templateJson.Resources[logicalId(name)].Properties;
      assert.equal(props.LoggingConfig.LogFormat, 'JSON', name);
      assert.deepEqual(props.TracingConfig, { Mode: 'Active' }, name);
    }
  });

  test('access logs are JSON lines with the route key, the request id and the source IP, never the raw path', () => {
    const stages = resourcesOfType('AWS::ApiGatewayV2::Stage');
    assert.equal(stages.length, 1);
    const settings = stages[0][1].Properties.AccessLogSettings;
    const format = JSON.parse(settings.Format);
    assert.deepEqual(format, ACCESS_LOG_FIELDS);
    assert.equal(format.routeKey, '$context.routeKey');
    assert.equal(format.requestId, '$context.requestId');
    assert.equal(format.sourceIp, '$context.identity.sourceIp');
    assert.ok(format.integrationError);
    assert.ok(!settings.Format.includes('$context.path'), 'tokens live in paths');
    const [groupId] = settings.DestinationArn['Fn::GetAtt'];
    assert.equal(templateJson.Resources[groupId].Type, 'AWS::Logs::LogGroup');
  });

  test('API 5xx answers and p99 latency raise alarms on the alarm topic', () => {
    for (const [metric, stat] of [['5xx', 'Sum'], ['Latency', 'p99']]) {
      const alarm = resourcesOfType('AWS::CloudWatch::Alarm').find(([, a]) => a.Properties.MetricName === metric && a.Properties.Namespace === 'AWS/ApiGateway');
      assert.ok(alarm, metric);
      const props = alarm[1].Properties;
      assert.equal(props.Statistic ?? props.ExtendedStatistic, stat);
      assert.equal(props.AlarmActions.length, 1, metric);
      assert.deepEqual(props.Dimensions.map((d: any) => d.Name).sort(), ['ApiId', 'Stage']);
    }
  });
});

describe('front door', () => {
  test('CORS allows the portal origin only, without credentials', () => {
    const api = resourcesOfType('AWS::ApiGatewayV2::Api')[0][1].Properties;
    assert.deepEqual(api.CorsConfiguration.AllowOrigins, ['https://portal.example.com']);
    assert.ok(!api.CorsConfiguration.AllowCredentials);
    const other = synth('dev', { portalUrl: 'https://families.swim.test/app' });
    const otherApi = other.template.toJSON().Resources;
    const cors = Object.values(otherApi).find((r: any) => r.Type === 'AWS::ApiGatewayV2::Api') as any;
    assert.deepEqual(cors.Properties.CorsConfiguration.AllowOrigins, ['https://families.swim.test']);
  });

  test('password and message routes have their own lower throttle, below the stage default', () => {
    const stage = resourcesOfType('AWS::ApiGatewayV2::Stage')[0][1].Properties;
    assert.ok(SENSITIVE_ROUTES.includes('POST /a/{account}/staff/login'));
    // Every one of them is a route of routes.json (a renamed route must not drop its limit).
    const real = new Set(loadRouteTable(DEFAULT_ROUTES_FILE).routes.map((r) => `${r.method} ${r.path}`));
    for (const key of SENSITIVE_ROUTES) assert.ok(real.has(key), key);
    assert.ok(SENSITIVE_ROUTES.includes('POST /a/{account}/sign-in'));
    assert.deepEqual(Object.keys(stage.RouteSettings).sort(), [...SENSITIVE_ROUTES].sort());
    for (const key of SENSITIVE_ROUTES) {
      assert.deepEqual(stage.RouteSettings[key], { ThrottlingRateLimit: SENSITIVE_RATE_LIMIT, ThrottlingBurstLimit: SENSITIVE_BURST_LIMIT });
    }
    assert.ok(SENSITIVE_RATE_LIMIT < stage.DefaultRouteSettings.ThrottlingRateLimit);
    // The stage waits for the routes its settings name.
    const stageId = resourcesOfType('AWS::ApiGatewayV2::Stage')[0][0];
    assert.ok(((templateJson.Resources[stageId] as any).DependsOn ?? []).length >= SENSITIVE_ROUTES.length);
  });
});

describe('schedule', () => {
  test('the schedule targets purge, hourly by default', () => {
    dev.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId(PURGE_FUNCTION), 'Arn'] } })],
    });
    dev.template.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'events.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [logicalId(PURGE_FUNCTION), 'Arn'] },
    });
  });

  test('purge runs one at a time, retries once within the hour, and keeps failed events', () => {
    const purge = templateJson.Resources[logicalId(PURGE_FUNCTION)];
    assert.equal(purge.Properties.ReservedConcurrentExecutions, 1);
    const configs = resourcesOfType('AWS::Lambda::EventInvokeConfig');
    assert.equal(configs.length, 1);
    const [, config] = configs[0];
    assert.deepEqual(config.Properties.FunctionName, { Ref: logicalId(PURGE_FUNCTION) });
    assert.equal(config.Properties.MaximumRetryAttempts, 1);
    assert.equal(config.Properties.MaximumEventAgeInSeconds, 3600);
    const queues = resourcesOfType('AWS::SQS::Queue');
    assert.equal(queues.length, 1);
    const [queueId, queue] = queues[0];
    assert.equal(queue.Properties.MessageRetentionPeriod, 14 * 24 * 3600);
    assert.equal(queue.Properties.SqsManagedSseEnabled, true);
    assert.deepEqual(config.Properties.DestinationConfig.OnFailure.Destination, { 'Fn::GetAtt': [queueId, 'Arn'] });
    dev.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      Threshold: 0,
      AlarmActions: Match.anyValue(),
    });
    dev.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Invocations',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(PURGE_FUNCTION) } }],
      Period: 3600,
      EvaluationPeriods: 2,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      AlarmActions: Match.anyValue(),
    });
  });

  test('context purgeSchedule changes the rate; garbage is rejected', () => {
    synth('dev', { purgeSchedule: 'rate(15 minutes)' }).template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(15 minutes)',
    });
    assert.throws(() => synth('dev', { purgeSchedule: 'hourly' }), /purgeSchedule/);
  });
});

describe('permissions', () => {
  test('the declared policy: mail for signup/invite/reset-password/revoke/pages, SMS for reset-password only', () => {
    const mail = Object.keys(FUNCTION_PERMISSIONS).filter((f) => FUNCTION_PERMISSIONS[f].mail).sort();
    const sms = Object.keys(FUNCTION_PERMISSIONS).filter((f) => FUNCTION_PERMISSIONS[f].sms);
    assert.deepEqual(mail, ['invite', 'pages', 'reset-password', 'revoke', 'signup']);
    assert.deepEqual(sms, ['reset-password']);
  });

  test('purge may only read expired items, delete them, keep its checkpoint, read the table creation time, re-send notices and hand a failed run to its queue', () => {
    for (const s of [dev, full]) {
      const actions = allowedActions(PURGE_FUNCTION, s);
      assert.deepEqual(actions.filter((a) => /^(sns|secretsmanager):/.test(a)), []);
      assert.deepEqual(
        new Set(actions),
        new Set([
          'dynamodb:Query',
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:DeleteItem',
          'dynamodb:BatchWriteItem',
          'dynamodb:DescribeTable',
          'ses:SendEmail',
          // The on-failure destination (CDK's grantSendMessages), on that one queue only.
          'sqs:SendMessage',
          'sqs:GetQueueAttributes',
          'sqs:GetQueueUrl',
          ...XRAY_ACTIONS,
        ]),
      );
      const [queueId] = resourcesOfType('AWS::SQS::Queue', s)[0];
      for (const st of statementsOf(PURGE_FUNCTION, s).filter((st) => JSON.stringify(st.Action).includes('sqs:'))) {
        assert.deepEqual(st.Resource, { 'Fn::GetAtt': [queueId, 'Arn'] });
      }
      const query = statementsOf(PURGE_FUNCTION, s).find((st) => st.Action === 'dynamodb:Query');
      const tableId = s.stack.getLogicalId(s.stack.table.node.defaultChild as any);
      assert.deepEqual(query.Resource, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [tableId, 'Arn'] }, '/index/expiry']] });
      // The table itself, not its indexes or streams.
      const describe = statementsOf(PURGE_FUNCTION, s).find((st) => st.Action === 'dynamodb:DescribeTable');
      assert.deepEqual(describe.Resource, { 'Fn::GetAtt': [tableId, 'Arn'] });
    }
  });

  test('login and office send no mail and no SMS', () => {
    for (const s of [dev, full]) {
      for (const name of ['login', 'office'].filter((f) => f in s.stack.functions)) {
        assert.deepEqual(allowedActions(name, s).filter((a) => /^(ses|sns):/.test(a)), [], name);
      }
    }
  });

  test('only reset-password has sns:Publish, and not to topics', () => {
    for (const s of [dev, full]) {
      for (const name of Object.keys(s.stack.functions)) {
        assert.equal(allowedActions(name, s).includes('sns:Publish'), name === 'reset-password', name);
      }
    }
    const deny = statementsOf('reset-password').find((st) => st.Effect === 'Deny');
    assert.deepEqual(deny, { Action: 'sns:Publish', Effect: 'Deny', Resource: 'arn:aws:sns:*:*:*', Sid: 'NoPublishToTopicsOrEndpoints' });
  });

  test('ses:SendEmail follows FUNCTION_PERMISSIONS, on the identity and configuration set only', () => {
    for (const name of everyHttpFunction) {
      const mail = statementsOf(name).filter((st) => st.Effect === 'Allow' && [st.Action].flat().some((a: string) => a.startsWith('ses:')));
      assert.equal(mail.length, FUNCTION_PERMISSIONS[name].mail ? 1 : 0, name);
      for (const st of mail) {
        assert.equal(st.Action, 'ses:SendEmail');
        assert.equal(st.Resource.length, 2);
        assert.ok(!st.Resource.includes('*'));
      }
    }
  });

  test('every HTTP function reads the signing secret and uses the table rw actions on the table only', () => {
    for (const [s, names] of [[dev, httpFunctions], [full, everyHttpFunction]] as const) {
      const secretId = s.stack.getLogicalId(s.stack.signingKey.node.defaultChild as any);
      const tableId = s.stack.getLogicalId(s.stack.table.node.defaultChild as any);
      for (const name of names) {
        const st = statementsOf(name, s);
        const secret = st.find((x) => [x.Action].flat().includes('secretsmanager:GetSecretValue'));
        assert.ok(secret, `${name} cannot read the signing key`);
        assert.deepEqual(secret.Resource, { Ref: secretId });
        const db = st.filter((x) => [x.Action].flat().some((a: string) => a.startsWith('dynamodb:')));
        assert.equal(db.length, 1, name);
        assert.deepEqual(db[0].Resource, { 'Fn::GetAtt': [tableId, 'Arn'] }, name);
        assert.ok(!db[0].Action.includes('dynamodb:Scan'), name);
      }
    }
  });

  test('no policy allows a wildcard action', () => {
    for (const name of everyFunction) {
      for (const a of allowedActions(name)) assert.ok(!a.includes('*'), `${name}: ${a}`);
    }
  });
});

// The hosted pages (HTML, PAGES.md): one more route group of routes.json, deployed like the API's.
describe('pages', () => {
  const pageRoutes = table.routes.filter((r) => r.function === 'pages');

  test('routes.json lists the pages function with its routes', () => {
    assert.ok(table.functions.includes('pages'));
    const keys = new Set(pageRoutes.map(routeKey));
    for (const key of [
      'GET /a/{account}/sign-in',
      'POST /a/{account}/sign-in',
      'GET /a/{account}/staff-sign-in',
      'POST /a/{account}/staff-sign-in',
      'POST /a/{account}/sign-out',
      'GET /a/{account}/theme.css',
      'GET /a/{account}/assets/{file}',
    ]) {
      assert.ok(keys.has(key), key);
    }
    assert.ok(pageRoutes.length >= 29, `${pageRoutes.length} page routes`);
  });

  test('every page route is an API route integrated with the pages function (payload 2.0)', () => {
    const pagesId = logicalId('pages');
    const integrations = resourcesOfType('AWS::ApiGatewayV2::Integration').filter(([, i]) => i.Properties.IntegrationUri['Fn::GetAtt'][0] === pagesId);
    assert.equal(integrations.length, 1, 'one integration for the pages function');
    const [integrationId, integration] = integrations[0];
    assert.equal(integration.Properties.IntegrationType, 'AWS_PROXY');
    // Payload 2.0: the function's Set-Cookie headers travel as the response's `cookies` array.
    assert.equal(integration.Properties.PayloadFormatVersion, '2.0');
    const routed = resourcesOfType('AWS::ApiGatewayV2::Route')
      .filter(([, r]) => r.Properties.Target['Fn::Join'][1][1].Ref === integrationId)
      .map(([, r]) => r.Properties.RouteKey as string);
    assert.deepEqual(new Set(routed), new Set(pageRoutes.map(routeKey)));
    for (const key of ['GET /a/{account}/sign-in', 'POST /a/{account}/sign-in']) {
      dev.template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: key,
        Target: { 'Fn::Join': ['', ['integrations/', { Ref: integrationId }]] },
      });
    }
  });

  test('the pages function: memory, a password-checking timeout, PORTAL_URL', () => {
    const props = templateJson.Resources[logicalId('pages')].Properties;
    assert.equal(props.MemorySize, 1024);
    // Sign-in may wait for a lockout slot, like login.
    assert.equal(props.Timeout, 25);
    assert.equal(props.Environment.Variables.PORTAL_URL, 'https://portal.example.com');
    assert.equal(props.Description, 'portal dev: pages');
  });

  test('pages reads and writes the table, reads the signing key, sends mail, never SMS', () => {
    const actions = allowedActions('pages', dev);
    assert.ok(!actions.includes('sns:Publish'), 'no sns:Publish');
    assert.deepEqual(actions.filter((a) => a.startsWith('sns:')), []);
    assert.deepEqual(
      new Set(actions),
      new Set([
        'dynamodb:GetItem',
        'dynamodb:BatchGetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
        'dynamodb:Query',
        'dynamodb:ConditionCheckItem',
        'secretsmanager:GetSecretValue',
        'secretsmanager:DescribeSecret',
        'ses:SendEmail',
        ...XRAY_ACTIONS,
      ]),
    );
    // The same actions as the other mail-sending route groups (signup, invite, revoke).
    assert.deepEqual(new Set(actions), new Set(allowedActions('signup', dev)));
    assert.ok(!statementsOf('pages', dev).some((st) => st.Effect === 'Deny'), 'no SMS deny needed: no SMS allow');
  });
});

describe('route table validation', () => {
  function writeRoutes(content: unknown): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'portal-routes-'));
    const file = path.join(dir, 'routes.json');
    writeFileSync(file, JSON.stringify(content));
    return file;
  }
  const good = { functions: ['login'], routes: [{ method: 'GET', path: '/a/{account}', function: 'login' }] };

  test('a route whose function is not in functions makes the synth throw', () => {
    const file = writeRoutes({ ...good, routes: [...good.routes, { method: 'POST', path: '/a/{account}/x', function: 'nope' }] });
    assert.throws(() => synth('dev', { routesFile: file }), /function "nope" is not in "functions"/);
  });

  test('duplicate routes, bad methods, paths outside /a/{account}, unused functions and purge are rejected', () => {
    const cases: [unknown, RegExp][] = [
      [{ ...good, routes: [good.routes[0], good.routes[0]] }, /duplicate route "GET \/a\/\{account\}"/],
      [{ ...good, routes: [{ ...good.routes[0], method: 'HEAD' }] }, /method "HEAD"/],
      [{ ...good, routes: [{ ...good.routes[0], path: '/x' }] }, /path "\/x"/],
      [{ ...good, functions: ['login', 'spare'] }, /"spare" serves no route/],
      [{ ...good, functions: ['login', 'purge'] }, /scheduled job/],
      [{ functions: [], routes: [] }, /non-empty/],
    ];
    for (const [content, re] of cases) assert.throws(() => synth('dev', { routesFile: writeRoutes(content) }), re);
  });

  test('a function missing from FUNCTION_PERMISSIONS makes the synth throw', () => {
    const file = writeRoutes({ functions: ['extra'], routes: [{ method: 'GET', path: '/a/{account}', function: 'extra' }] });
    assert.throws(() => synth('dev', { routesFile: file }), /FUNCTION_PERMISSIONS.*extra/);
  });

  test('path variables named differently at one position are detected', () => {
    const t = {
      functions: ['login'],
      routes: [
        { method: 'GET', path: '/a/{account}/x/{token}', function: 'login' },
        { method: 'DELETE', path: '/a/{account}/x/{id}', function: 'login' },
        { method: 'POST', path: '/a/{account}/x/{token}/y/{z}', function: 'login' },
      ],
    } as const;
    assert.deepEqual(variableNameConflicts(t), ['DELETE /a/{account}/x/{id} names {id} where GET /a/{account}/x/{token} names {token}']);
  });

  test('differently named sibling path variables make the synth throw; the real table has none', () => {
    const t: RouteTable = {
      functions: ['login'],
      routes: [
        { method: 'DELETE', path: '/a/{account}/x/{id}', function: 'login' },
        { method: 'GET', path: '/a/{account}/x/{token}', function: 'login' },
      ],
    };
    assert.throws(() => synth('dev', { routesFile: writeRoutes(t) }), /API Gateway refuses them.*GET \/a\/\{account\}\/x\/\{token\} names \{token\}/);
    // An invitation's link (GET portal/invitation-links/{token}) no longer sits beside its id.
    assert.deepEqual(variableNameConflicts(table), []);
  });

  test('a valid alternative table synthesizes its own routes', () => {
    const { template } = synth('dev', { routesFile: writeRoutes(good) });
    template.resourceCountIs('AWS::ApiGatewayV2::Route', 1);
    template.resourceCountIs('AWS::Lambda::Function', 2);
  });
});
