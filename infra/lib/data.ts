// The table's data protection: a customer-managed KMS key (rotated yearly, grants per function
// through DynamoDB only) and an AWS Backup plan beside PITR. The restore runbook is in README.md
// ("Restore the table").
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/**
 * What a function may do with the table key: DynamoDB encrypts and decrypts items with it on the
 * caller's behalf. Named actions (no `GenerateDataKey*` wildcards), and only through DynamoDB.
 */
export const TABLE_KEY_ACTIONS = ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'];

/** Daily backups kept 35 days, monthly ones a year (PITR covers any second of the last 35 days). */
export const BACKUP_DAILY_RETENTION_DAYS = 35;
export const BACKUP_MONTHLY_RETENTION_DAYS = 365;

export class TableKey extends Construct {
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: { stage: string; removalPolicy: RemovalPolicy }) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: `portal ${props.stage}: the table (password hashes, families with minors) and its backups`,
      enableKeyRotation: true,
      pendingWindow: Duration.days(30),
      removalPolicy: props.removalPolicy,
    });
  }

  /** Lets `grantee` use the key through DynamoDB in this region, nothing else. */
  grantThroughDynamoDb(grantee: iam.IGrantable, region: string): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TableKeyThroughDynamoDb',
        actions: TABLE_KEY_ACTIONS,
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${region}.amazonaws.com` } },
      }),
    );
  }
}

export class TableBackups extends Construct {
  readonly vault: backup.BackupVault;
  readonly plan: backup.BackupPlan;

  constructor(scope: Construct, id: string, props: { stage: string; table: dynamodb.TableV2; key: kms.IKey; removalPolicy: RemovalPolicy }) {
    super(scope, id);
    this.vault = new backup.BackupVault(this, 'Vault', {
      backupVaultName: `portal-${props.stage}`,
      encryptionKey: props.key,
      removalPolicy: props.removalPolicy,
    });
    this.plan = new backup.BackupPlan(this, 'Plan', {
      backupPlanName: `portal-${props.stage}`,
      backupVault: this.vault,
      backupPlanRules: [
        new backup.BackupPlanRule({
          ruleName: 'Daily',
          scheduleExpression: events.Schedule.cron({ hour: '3', minute: '0' }),
          deleteAfter: Duration.days(BACKUP_DAILY_RETENTION_DAYS),
        }),
        new backup.BackupPlanRule({
          ruleName: 'Monthly',
          scheduleExpression: events.Schedule.cron({ day: '1', hour: '4', minute: '0' }),
          deleteAfter: Duration.days(BACKUP_MONTHLY_RETENTION_DAYS),
        }),
      ],
    });
    this.plan.addSelection('Table', { resources: [backup.BackupResource.fromArn(props.table.tableArn)] });
  }
}
