// Stack tests: `node --import tsx --test test/*.test.ts`. They read the real routes.json, so a
// route added in Rust and missing from the stack (or the reverse) fails here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { CfnResource } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { ServerlessChecks } from 'cdk-nag';
import { resolveStageConfig, type StageConfig } from '../lib/config';
import { ORIGIN_VERIFY_HEADER, sensitivePathRegex, WAF_MANAGED_RULE_GROUPS, WAF_RATE_PER_IP, WAF_RATE_PER_IP_AND_ROUTE } from '../lib/front-door';
import { STAGES } from '../lib/stages';
import { fakeBuilds, PROD_CONFIG } from './fixtures';
import { TABLE_KEY_ACTIONS } from '../lib/data';
import {
  ACCESS_LOG_FIELDS,
  APP_METRICS_NAMESPACE,
  FUNCTION_PERMISSIONS,
  functionArchitecture,
  functionMemoryMiB,
  functionTimeoutSeconds,
  LIVE_ALIAS,
  NAG_ACKNOWLEDGED,
  PASSWORD_CHECKING_FUNCTIONS,
  PortalStack,
  SENSITIVE_BURST_LIMIT,
  SENSITIVE_RATE_LIMIT,
  SENSITIVE_ROUTES,
} from '../lib/portal-stack';
import { DEFAULT_ROUTES_FILE, loadRouteTable, PURGE_FUNCTION, ROTATE_KEY_FUNCTION, type RouteTable, routeKey, variableNameConflicts } from '../lib/routes';

const table = loadRouteTable(DEFAULT_ROUTES_FILE);
// A lambdaDir that never holds builds, so the tests do not depend on (or hash) release binaries.
const NO_BUILDS = path.join(tmpdir(), 'portal-infra-test-no-lambda-builds');

type Synth = { stack: PortalStack; template: Template; json: { Resources: Record<string, { Type: string; Properties: any; DeletionPolicy?: string }> } };

function synth(stage: string, context: Record<string, unknown> = {}, routeTable?: RouteTable, config?: StageConfig): Synth {
  const app = new App({ context: { stage, ...context } });
  const functions = [...(routeTable ?? table).functions, PURGE_FUNCTION, ROTATE_KEY_FUNCTION];
  const lambdaDir = stage === 'dev' ? NO_BUILDS : fakeBuilds(functions);
  const stack = new PortalStack(app, `portal-${stage}`, { stage, lambdaDir, routeTable, config });
  const template = Template.fromStack(stack);
  return { stack, template, json: template.toJSON() as Synth['json'] };
}

// The real table (whatever the Rust code generated) ...
const dev = synth('dev');
const prod = synth('prod', {}, undefined, PROD_CONFIG);
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

/** Logical id of a function's `live` alias (what routes, the schedule and rotation invoke). */
function aliasId(name: string, s: Synth = dev): string {
  return s.stack.getLogicalId(s.stack.aliases[name].node.defaultChild as CfnResource);
}

const httpFunctions = table.functions;
const allFunctions = [...httpFunctions, PURGE_FUNCTION, ROTATE_KEY_FUNCTION];
const everyHttpFunction = FULL_TABLE.functions;
const everyFunction = [...everyHttpFunction, PURGE_FUNCTION, ROTATE_KEY_FUNCTION];
/** The functions that are not HTTP functions (no route, no signing key read at init). */
const NOT_HTTP = [PURGE_FUNCTION, ROTATE_KEY_FUNCTION];

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
      integrationFn.set(id, i.Properties.IntegrationUri.Ref);
    }
    for (const [, r] of resourcesOfType('AWS::ApiGatewayV2::Route')) {
      const entry = table.routes.find((e) => routeKey(e) === r.Properties.RouteKey)!;
      const integrationId = r.Properties.Target['Fn::Join'][1][1].Ref as string;
      assert.equal(integrationFn.get(integrationId), aliasId(entry.function), `${r.Properties.RouteKey} -> ${entry.function} (live alias)`);
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
      const rotate = name === ROTATE_KEY_FUNCTION;
      assert.equal(props.MemorySize, purge || rotate ? 256 : functionMemoryMiB(name), name);
      if (name === 'login') assert.equal(props.MemorySize, 1769, 'login verifies argon2 on every request: a full vCPU');
      assert.equal(props.Timeout, purge ? 300 : rotate ? 30 : functionTimeoutSeconds(name), name);
      if (name === 'login') assert.equal(props.Timeout, 25, 'a login may wait for a lockout slot');
      if (name === 'office') assert.equal(props.Timeout, 10, name);
      const env = props.Environment.Variables;
      assert.equal(env.RUST_LOG, 'info');
      assert.equal(env.PORTAL_STAGE, 'dev', `${name}: the EMF metrics' Stage dimension`);
      if (purge) {
        assert.deepEqual(Object.keys(env).sort(), ['EXPIRY_INDEX', 'MAIL_FROM', 'PORTAL_STAGE', 'RUST_LOG', 'TABLE_NAME']);
      } else if (rotate) {
        assert.deepEqual(Object.keys(env).sort(), ['KEY_RETENTION_DAYS', 'PORTAL_STAGE', 'RUST_LOG']);
        assert.equal(env.KEY_RETENTION_DAYS, '400');
      } else {
        assert.deepEqual(
          Object.keys(env).sort(),
          ['MAIL_FROM', 'PORTAL_STAGE', 'PORTAL_URL', 'RUST_LOG', 'SIGNING_KEY_SECRET_ARN', 'TABLE_NAME'],
          name,
        );
        assert.equal(env.PORTAL_URL, 'https://portal.example.com');
        assert.equal(env.MAIL_FROM, 'no-reply@example.com');
      }
    }
  });

  test('dev takes context overrides for portalUrl and mailFrom; other stages refuse them', () => {
    const { stack } = synth('dev', { portalUrl: 'https://p.test', mailFrom: 'a@m.test' });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PORTAL_URL: 'https://p.test', MAIL_FROM: 'a@m.test' }) },
    });
    assert.throws(() => synth('prod', { portalUrl: 'https://p.test' }, undefined, undefined), /context values portalUrl are not accepted outside dev/);
  });

  test('every function has a log group with retention (1 month dev, 1 year otherwise)', () => {
    // (+2: the API's access logs and the mail events, same retention.)
    dev.template.resourceCountIs('AWS::Logs::LogGroup', allFunctions.length + 2);
    dev.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    prod.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
    for (const name of allFunctions) {
      assert.ok(templateJson.Resources[logicalId(name)].Properties.LoggingConfig.LogGroup.Ref, name);
    }
  });

  test('three alarms per function: errors, throttles, p99 duration > 80% of timeout', () => {
    // (+2: purge's failed-run queue and its not-run alarm, see the purge tests; +1: undelivered
    // events; +8: the stage-wide signals, see the signals tests.)
    dev.template.resourceCountIs('AWS::CloudWatch::Alarm', allFunctions.length * 3 + 11);
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
        assert.equal(a.Properties.AlarmActions.length, 1, 'on the alarm topic');
      }
    }
    // Errors are counted on the live alias: what CodeDeploy shifts and rolls back on.
    for (const [, a] of resourcesOfType('AWS::CloudWatch::Alarm').filter(([, a]) => a.Properties.MetricName === 'Errors')) {
      assert.deepEqual(a.Properties.Dimensions.map((d: any) => d.Name).sort(), ['ExecutedVersion', 'FunctionName', 'Resource'].filter((n) => a.Properties.Dimensions.some((d: any) => d.Name === n)));
      assert.ok(a.Properties.Dimensions.some((d: any) => d.Name === 'Resource'), 'alias-level metric');
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
      Targets: [Match.objectLike({ Arn: { Ref: aliasId(PURGE_FUNCTION) }, DeadLetterConfig: Match.anyValue() })],
    });
    dev.template.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'events.amazonaws.com',
      FunctionName: { Ref: aliasId(PURGE_FUNCTION) },
    });
  });

  test('purge runs one at a time, retries once within the hour, and keeps failed events', () => {
    const purge = templateJson.Resources[logicalId(PURGE_FUNCTION)];
    assert.equal(purge.Properties.ReservedConcurrentExecutions, 1);
    const configs = resourcesOfType('AWS::Lambda::EventInvokeConfig');
    assert.equal(configs.length, 1);
    const [, config] = configs[0];
    assert.deepEqual(config.Properties.FunctionName, { Ref: logicalId(PURGE_FUNCTION) });
    assert.ok(JSON.stringify(config.Properties.Qualifier).includes(aliasId(PURGE_FUNCTION)), 'on the live alias the schedule invokes');
    assert.equal(config.Properties.MaximumRetryAttempts, 1);
    assert.equal(config.Properties.MaximumEventAgeInSeconds, 3600);
    const queues = resourcesOfType('AWS::SQS::Queue').filter(([id]) => id.startsWith('PurgeFailures'));
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
          ...TABLE_KEY_ACTIONS,
        ]),
      );
      const [queueId] = resourcesOfType('AWS::SQS::Queue', s).filter(([id]) => id.startsWith('PurgeFailures'))[0];
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
    const pagesId = aliasId('pages');
    const integrations = resourcesOfType('AWS::ApiGatewayV2::Integration').filter(([, i]) => i.Properties.IntegrationUri.Ref === pagesId);
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
        ...TABLE_KEY_ACTIONS,
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
    template.resourceCountIs('AWS::Lambda::Function', 3); // its one function, purge, rotate-key
  });
});

describe('data', () => {
  test('the table is encrypted with our own key, rotated yearly, kept on prod', () => {
    const [keyId, key] = resourcesOfType('AWS::KMS::Key')[0];
    assert.equal(resourcesOfType('AWS::KMS::Key').length, 1);
    assert.equal(key.Properties.EnableKeyRotation, true);
    dev.template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
      Replicas: [Match.objectLike({ SSESpecification: { KMSMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } } })],
    });
    prod.template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain' });
  });

  test('only the functions that use the table may use its key, and only through DynamoDB', () => {
    const keyId = full.stack.getLogicalId(full.stack.tableKey.key.node.defaultChild as CfnResource);
    for (const name of everyFunction) {
      const st = statementsOf(name, full).filter((x) => [x.Action].flat().some((a: string) => a.startsWith('kms:')));
      if (name === ROTATE_KEY_FUNCTION) {
        assert.deepEqual(st, [], 'rotate-key never reads the table');
        continue;
      }
      assert.equal(st.length, 1, name);
      assert.deepEqual(new Set(st[0].Action), new Set(TABLE_KEY_ACTIONS), name);
      assert.deepEqual(st[0].Resource, { 'Fn::GetAtt': [keyId, 'Arn'] }, name);
      assert.deepEqual(st[0].Condition, { StringEquals: { 'kms:ViaService': 'dynamodb.us-east-1.amazonaws.com' } }, name);
    }
  });

  test('AWS Backup: daily backups kept 35 days, monthly ones a year, of the table, in a vault under the table key', () => {
    const keyId = dev.stack.getLogicalId(dev.stack.tableKey.key.node.defaultChild as CfnResource);
    const [vaultId, vault] = resourcesOfType('AWS::Backup::BackupVault')[0];
    assert.deepEqual(vault.Properties.EncryptionKeyArn, { 'Fn::GetAtt': [keyId, 'Arn'] });
    const [planId, plan] = resourcesOfType('AWS::Backup::BackupPlan')[0];
    const rules = plan.Properties.BackupPlan.BackupPlanRule;
    assert.deepEqual(
      rules.map((r: any) => [r.RuleName, r.Lifecycle.DeleteAfterDays, r.TargetBackupVault['Fn::GetAtt'][0]]),
      [
        ['Daily', 35, vaultId],
        ['Monthly', 365, vaultId],
      ],
    );
    const [, selection] = resourcesOfType('AWS::Backup::BackupSelection')[0];
    assert.equal(selection.Properties.BackupPlanId['Fn::GetAtt'][0], planId);
    const tableId = dev.stack.getLogicalId(dev.stack.table.node.defaultChild as CfnResource);
    assert.deepEqual(selection.Properties.BackupSelection.Resources, [{ 'Fn::GetAtt': [tableId, 'Arn'] }]);
    prod.template.hasResource('AWS::Backup::BackupVault', { DeletionPolicy: 'Retain' });
  });
});

describe('signals that reach a person', () => {
  const alarms = (s: Synth = dev) => resourcesOfType('AWS::CloudWatch::Alarm', s);
  const alarm = (id: string, s: Synth = dev) => {
    const found = alarms(s).filter(([logical]) => logical.startsWith(id));
    assert.equal(found.length, 1, id);
    return found[0][1].Properties;
  };

  test('every alarm goes to the alarm topic', () => {
    const topicId = dev.stack.getLogicalId(dev.stack.alarmTopic.node.defaultChild as CfnResource);
    for (const [id, a] of alarms()) assert.deepEqual(a.Properties.AlarmActions, [{ Ref: topicId }], id);
  });

  test('handled 503s (the app\'s EMF metric), table throttles, SES reputation, SMS failures and spend', () => {
    const unavailable = alarm('ServiceUnavailable');
    assert.equal(unavailable.Namespace, APP_METRICS_NAMESPACE);
    assert.equal(unavailable.MetricName, 'ServiceUnavailable');
    assert.deepEqual(unavailable.Dimensions, [{ Name: 'Stage', Value: 'dev' }]);
    assert.equal(unavailable.Threshold, 0);
    const throttles = alarm('TableThrottles');
    const metrics = throttles.Metrics.filter((m: any) => m.MetricStat).map((m: any) => m.MetricStat.Metric.MetricName);
    assert.deepEqual(metrics.sort(), ['ReadThrottleEvents', 'ReadThrottleEvents', 'WriteThrottleEvents']);
    assert.equal(alarm('MailBounceRate').MetricName, 'Reputation.BounceRate');
    assert.equal(alarm('MailBounceRate').Threshold, 0.05);
    assert.equal(alarm('MailComplaintRate').MetricName, 'Reputation.ComplaintRate');
    assert.equal(alarm('MailComplaintRate').Threshold, 0.001);
    assert.equal(alarm('SmsFailures').MetricName, 'SmsFailed');
    assert.equal(alarm('SmsFailures').Namespace, APP_METRICS_NAMESPACE);
    assert.equal(alarm('SmsSpend').MetricName, 'SMSMonthToDateSpentUSD');
    assert.equal(alarm('SmsSpend', prod).Threshold, PROD_CONFIG.smsMonthlySpendAlarmUsd);
  });

  test('bounces, complaints, rejections and delays of the configuration set are recorded in a log group', () => {
    const [, dest] = resourcesOfType('AWS::SES::ConfigurationSetEventDestination')[0];
    const d = dest.Properties.EventDestination;
    assert.equal(d.Enabled, true);
    assert.deepEqual(new Set(d.MatchingEventTypes), new Set(['bounce', 'complaint', 'reject', 'deliveryDelay', 'renderingFailure']));
    assert.ok(d.EventBridgeDestination.EventBusArn);
    const rule = resourcesOfType('AWS::Events::Rule').find(([id]) => id.startsWith('MailEventsRule'))!;
    assert.deepEqual(rule[1].Properties.EventPattern.source, ['aws.ses']);
    const target = rule[1].Properties.Targets[0];
    assert.ok(JSON.stringify(target.Arn).includes('MailEvents'), 'into the MailEvents log group');
    assert.ok(target.DeadLetterConfig, 'undeliverable events are kept');
    const [, policy] = resourcesOfType('AWS::Logs::ResourcePolicy')[0];
    const doc = JSON.parse(JSON.stringify(policy.Properties.PolicyDocument));
    assert.ok(JSON.stringify(doc).includes('events.amazonaws.com'));
  });

  test('outside dev the alarm topic has a subscriber, and a stage without one does not synthesize', () => {
    prod.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: PROD_CONFIG.alarmEmail });
    const { alarmEmail: _, ...withoutSubscriber } = PROD_CONFIG;
    assert.throws(() => synth('prod', {}, undefined, resolveStageConfig('prod', { prod: withoutSubscriber })), /alarmEmail is missing/);
  });
});

describe('safe deploys', () => {
  test('every function is published behind a live alias with a CodeDeploy deployment group', () => {
    for (const s of [dev, prod]) {
      const aliases = resourcesOfType('AWS::Lambda::Alias', s);
      assert.equal(aliases.length, allFunctions.length);
      for (const [, a] of aliases) {
        assert.equal(a.Properties.Name, LIVE_ALIAS);
        assert.ok(a.Properties.FunctionVersion['Fn::GetAtt'][1] === 'Version');
      }
      assert.equal(resourcesOfType('AWS::Lambda::Version', s).length, allFunctions.length);
      const groups = resourcesOfType('AWS::CodeDeploy::DeploymentGroup', s);
      assert.equal(groups.length, allFunctions.length);
    }
  });

  test('outside dev: a 10% canary for 5 minutes, rolled back by the function errors, API 5xx and handled 503 alarms', () => {
    const byId = (s: Synth) => Object.fromEntries(resourcesOfType('AWS::CloudWatch::Alarm', s).map(([id, a]) => [id, a.Properties]));
    for (const [s, config] of [[prod, 'CodeDeployDefault.LambdaCanary10Percent5Minutes'], [dev, 'CodeDeployDefault.LambdaAllAtOnce']] as const) {
      const alarmsById = byId(s);
      for (const [id, g] of resourcesOfType('AWS::CodeDeploy::DeploymentGroup', s)) {
        assert.equal(g.Properties.DeploymentConfigName, config, id);
        assert.deepEqual(new Set(g.Properties.AutoRollbackConfiguration.Events), new Set(['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_REQUEST', 'DEPLOYMENT_STOP_ON_ALARM']));
        const names = g.Properties.AlarmConfiguration.Alarms.map((a: any) => a.Name.Ref as string);
        assert.ok(names.some((n: string) => alarmsById[n].MetricName === 'Errors'), `${id}: its function's errors`);
        const http = !id.startsWith('PurgeDeployment') && !id.startsWith('RotateKeyDeployment');
        if (http) {
          assert.ok(names.some((n: string) => alarmsById[n].MetricName === '5xx'), `${id}: API 5xx`);
          assert.ok(names.some((n: string) => alarmsById[n].MetricName === 'ServiceUnavailable'), `${id}: handled 503s`);
        }
      }
    }
  });

  test('prod: account and region pinned, SES identity and configuration set kept, stub binaries refused', () => {
    assert.equal(prod.stack.account, PROD_CONFIG.account);
    assert.equal(prod.stack.region, 'us-east-1');
    prod.template.hasResource('AWS::SES::EmailIdentity', { DeletionPolicy: 'Retain' });
    prod.template.hasResource('AWS::SES::ConfigurationSet', { DeletionPolicy: 'Retain' });
    const app = new App({ context: { stage: 'prod' } });
    assert.throws(() => new PortalStack(app, 'portal-prod', { stage: 'prod', lambdaDir: NO_BUILDS, config: PROD_CONFIG }), /no cargo lambda build .*only dev synthesizes stubs/);
  });

  test('prod without its configuration fails, naming what is missing; placeholders are refused', () => {
    assert.throws(() => resolveStageConfig('prod', STAGES), /account is missing; portalUrl is missing; mailDomain is missing; alarmEmail is missing; frontDoor is missing/);
    assert.throws(
      () => resolveStageConfig('prod', { prod: { ...PROD_CONFIG, portalUrl: 'https://portal.example.com' } }),
      /portalUrl is a placeholder/,
    );
    assert.throws(() => resolveStageConfig('prod', { prod: { ...PROD_CONFIG, region: 'eu-west-1' } }), /region must be us-east-1 with a frontDoor/);
    assert.throws(() => resolveStageConfig('nowhere', STAGES), /no entry in infra\/lib\/stages.ts/);
    // The app itself: `cdk synth -c stage=prod` exits non-zero with that message.
    const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'bin', 'portal.ts')], {
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ stage: 'prod' }), CDK_OUTDIR: mkdtempSync(path.join(tmpdir(), 'portal-cdk-out-')) },
      encoding: 'utf8',
    });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /stage prod cannot be synthesized: account is missing.*alarmEmail is missing; frontDoor is missing/);
  });

  test("cdk-nag's serverless rules find nothing unacknowledged, and every acknowledgement has a reason", () => {
    for (const config of [undefined, PROD_CONFIG]) {
      const app = new App({ context: { stage: config ? 'prod' : 'dev' } });
      const stage = config ? 'prod' : 'dev';
      new PortalStack(app, `portal-${stage}`, { stage, lambdaDir: config ? fakeBuilds(allFunctions) : NO_BUILDS, config });
      const report = new ServerlessChecks().validateScope(app);
      assert.deepEqual(
        report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r: any) => r.constructPath ?? r.resourceLogicalId).join(', ')}`),
        [],
        stage,
      );
    }
    for (const ack of Object.values(NAG_ACKNOWLEDGED)) assert.ok(ack.reason.length > 40, ack.id);
  });
});

describe('front door (every stage but dev)', () => {
  const waf = () => resourcesOfType('AWS::WAFv2::WebACL', prod)[0];

  test('dev has none and keeps execute-api; prod switches execute-api off behind a TLS 1.2 custom domain', () => {
    assert.equal(resourcesOfType('AWS::CloudFront::Distribution').length, 0);
    assert.equal(resourcesOfType('AWS::ApiGatewayV2::Api')[0][1].Properties.DisableExecuteApiEndpoint, false);
    assert.equal(resourcesOfType('AWS::ApiGatewayV2::Api', prod)[0][1].Properties.DisableExecuteApiEndpoint, true);
    const [domainId, domain] = resourcesOfType('AWS::ApiGatewayV2::DomainName', prod)[0];
    assert.equal(domain.Properties.DomainName, PROD_CONFIG.frontDoor!.originDomainName);
    assert.equal(domain.Properties.DomainNameConfigurations[0].SecurityPolicy, 'TLS_1_2');
    const [, mapping] = resourcesOfType('AWS::ApiGatewayV2::ApiMapping', prod)[0];
    assert.deepEqual(mapping.Properties.DomainName, { Ref: domainId });
  });

  test('CloudFront: the stage domain, TLS 1.2, the web ACL, and the origin-verify header from a secret', () => {
    const [, dist] = resourcesOfType('AWS::CloudFront::Distribution', prod)[0];
    const c = dist.Properties.DistributionConfig;
    assert.deepEqual(c.Aliases, [PROD_CONFIG.frontDoor!.domainName]);
    assert.equal(c.ViewerCertificate.MinimumProtocolVersion, 'TLSv1.2_2021');
    assert.deepEqual(c.WebACLId, { 'Fn::GetAtt': [waf()[0], 'Arn'] });
    const origin = c.Origins[0];
    assert.equal(origin.DomainName, PROD_CONFIG.frontDoor!.originDomainName);
    assert.equal(origin.CustomOriginConfig.OriginProtocolPolicy, 'https-only');
    const header = origin.OriginCustomHeaders.find((h: any) => h.HeaderName === ORIGIN_VERIFY_HEADER);
    assert.ok(JSON.stringify(header.HeaderValue).includes('{{resolve:secretsmanager:'), 'a dynamic reference, never the value');
    // Every HTTP function knows where to read the value it must see.
    for (const name of httpFunctions) {
      const env = prod.json.Resources[logicalId(name, prod)].Properties.Environment.Variables;
      assert.ok(env.ORIGIN_VERIFY_SECRET_ARN, name);
    }
  });

  test('WAF: per-IP and per-IP-and-route rate rules, then the AWS managed rule groups', () => {
    const [, acl] = waf();
    assert.equal(acl.Properties.Scope, 'CLOUDFRONT');
    const rules = acl.Properties.Rules;
    assert.deepEqual(rules.map((r: any) => r.Name), ['RatePerIp', 'RatePerIpAndSensitiveRoute', ...WAF_MANAGED_RULE_GROUPS]);
    assert.equal(rules[0].Statement.RateBasedStatement.Limit, WAF_RATE_PER_IP);
    const perRoute = rules[1].Statement.RateBasedStatement;
    assert.equal(perRoute.Limit, WAF_RATE_PER_IP_AND_ROUTE);
    assert.deepEqual(perRoute.CustomKeys.map((k: any) => Object.keys(k)[0]), ['IP', 'UriPath']);
    const regex = new RegExp(perRoute.ScopeDownStatement.AndStatement.Statements[1].RegexMatchStatement.RegexString);
    for (const key of SENSITIVE_ROUTES) assert.ok(regex.test(key.split(' ')[1].replace('{account}', 'splash')), key);
    for (const other of ['/a/splash/session', '/a/splash/office/staff', '/a/splash/staff/login/extra', '/b/splash/staff/login']) {
      assert.ok(!regex.test(other), other);
    }
    assert.equal(sensitivePathRegex(['POST /a/{account}/x.y/{id}']), '^/a/[^/]+/(x\\.y/[^/]+)$');
    for (const r of rules.slice(2)) assert.equal(r.Statement.ManagedRuleGroupStatement.VendorName, 'AWS');
    // A blocked client gets the contract's 429 code.
    assert.ok(acl.Properties.CustomResponseBodies.too_many_requests.Content.includes('"too_many_requests"'));
  });
});

describe('architectures', () => {
  test('arm64 for the functions that never hash a password, x86_64 where argon2 runs', () => {
    for (const name of allFunctions) {
      const arch = templateJson.Resources[logicalId(name)].Properties.Architectures;
      const hashes = PASSWORD_CHECKING_FUNCTIONS.includes(name) || name === 'office';
      assert.deepEqual(arch, [hashes ? 'x86_64' : functionArchitecture(name).name], name);
      if (hashes) assert.equal(functionArchitecture(name).name, 'x86_64', `${name} hashes passwords`);
    }
    for (const name of ['revoke', PURGE_FUNCTION, ROTATE_KEY_FUNCTION]) assert.equal(functionArchitecture(name).name, 'arm64', name);
  });

  test('a binary built for the other architecture is refused', () => {
    const dir = fakeBuilds(allFunctions);
    writeFileSync(path.join(dir, 'revoke', 'bootstrap'), readFileSync(path.join(dir, 'login', 'bootstrap')));
    const app = new App({ context: { stage: 'prod' } });
    assert.throws(() => new PortalStack(app, 'portal-prod', { stage: 'prod', lambdaDir: dir, config: PROD_CONFIG }), /built for x86_64 but revoke runs on arm64/);
  });
});

describe('signing key rotation', () => {
  test('Secrets Manager rotates the keyring through rotate-key\'s live alias on the configured schedule', () => {
    const secretId = dev.stack.getLogicalId(dev.stack.signingKey.node.defaultChild as CfnResource);
    dev.template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      SecretId: { Ref: secretId },
      RotationLambdaARN: { Ref: aliasId(ROTATE_KEY_FUNCTION) },
      RotationRules: { ScheduleExpression: 'rate(90 days)' },
    });
    dev.template.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'secretsmanager.amazonaws.com',
      FunctionName: { Ref: aliasId(ROTATE_KEY_FUNCTION) },
    });
    synth('dev', { keyRotationDays: '7' }).template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      RotationRules: { ScheduleExpression: 'rate(7 days)' },
    });
  });

  test('rotate-key may only read and stage versions of the signing secret (and draw a random value)', () => {
    const secretId = full.stack.getLogicalId(full.stack.signingKey.node.defaultChild as CfnResource);
    assert.deepEqual(
      new Set(allowedActions(ROTATE_KEY_FUNCTION)),
      new Set([
        'secretsmanager:DescribeSecret',
        'secretsmanager:GetSecretValue',
        'secretsmanager:PutSecretValue',
        'secretsmanager:UpdateSecretVersionStage',
        'secretsmanager:GetRandomPassword',
        ...XRAY_ACTIONS,
      ]),
    );
    for (const st of statementsOf(ROTATE_KEY_FUNCTION)) {
      const actions = [st.Action].flat();
      if (actions.some((a: string) => a.startsWith('secretsmanager:') && a !== 'secretsmanager:GetRandomPassword')) {
        assert.deepEqual(st.Resource, { Ref: secretId });
      }
    }
  });
});
