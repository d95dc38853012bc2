// The public entry of a stage: CloudFront with an AWS WAF web ACL, in front of the HTTP API's
// own custom domain (TLS 1.2+), whose default execute-api endpoint is switched off. CloudFront
// adds a secret origin-verify header that the functions check (shared/lambda), so a client who
// finds the origin's name still cannot go around the WAF.
import { Duration } from 'aws-cdk-lib';
import { ApiMapping, DomainName, type HttpApi, type HttpStage, SecurityPolicy } from 'aws-cdk-lib/aws-apigatewayv2';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import type { FrontDoorConfig } from './config';

/** The header CloudFront adds and the functions require (ORIGIN_VERIFY_HEADER in shared/lambda). */
export const ORIGIN_VERIFY_HEADER = 'x-origin-verify';

/** Requests per client IP per 5 minutes, all routes together (a busy office behind one NAT fits). */
export const WAF_RATE_PER_IP = 2000;
/** Requests per client IP to one sensitive route of one tenant per 5 minutes. */
export const WAF_RATE_PER_IP_AND_ROUTE = 100;
/** The AWS managed rule groups, in evaluation order after the rate rules. */
export const WAF_MANAGED_RULE_GROUPS = ['AWSManagedRulesAmazonIpReputationList', 'AWSManagedRulesCommonRuleSet', 'AWSManagedRulesKnownBadInputsRuleSet'];

/** A regex over request paths matching the given `METHOD /a/{account}/...` route keys' paths. */
export function sensitivePathRegex(routeKeys: readonly string[]): string {
  const tails = routeKeys.map((k) => {
    const path = k.split(' ')[1];
    if (!path.startsWith('/a/{account}/')) throw new Error(`not a tenant route: ${k}`);
    return path
      .slice('/a/{account}/'.length)
      .split('/')
      .map((seg) => (seg.startsWith('{') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')))
      .join('/');
  });
  return `^/a/[^/]+/(${[...new Set(tails)].join('|')})$`;
}

export interface FrontDoorProps {
  readonly stage: string;
  readonly config: FrontDoorConfig;
  readonly api: HttpApi;
  readonly apiStage: HttpStage;
  /** The POST routes that check a password or send a message (rate-limited per IP + route). */
  readonly sensitiveRoutes: readonly string[];
  /** The origin-verify secret (a plain string) CloudFront sends in ORIGIN_VERIFY_HEADER. */
  readonly originVerify: secretsmanager.ISecret;
}

export class FrontDoor extends Construct {
  readonly distribution: cloudfront.Distribution;
  readonly webAcl: wafv2.CfnWebACL;
  readonly originDomain: DomainName;

  constructor(scope: Construct, id: string, props: FrontDoorProps) {
    super(scope, id);
    const { config, stage } = props;

    // The API's own name, reached only by CloudFront.
    this.originDomain = new DomainName(this, 'OriginDomain', {
      domainName: config.originDomainName,
      certificate: acm.Certificate.fromCertificateArn(this, 'OriginCertificate', config.originCertificateArn),
      securityPolicy: SecurityPolicy.TLS_1_2,
    });
    new ApiMapping(this, 'OriginMapping', { api: props.api, domainName: this.originDomain, stage: props.apiStage });

    const visibility = (metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
      metricName: `portal-${stage}-${metricName}`,
    });
    const tooMany = { customResponse: { responseCode: 429, customResponseBodyKey: 'too_many_requests' } };
    const rules: wafv2.CfnWebACL.RuleProperty[] = [
      {
        name: 'RatePerIp',
        priority: 0,
        action: { block: tooMany },
        statement: { rateBasedStatement: { aggregateKeyType: 'IP', limit: WAF_RATE_PER_IP, evaluationWindowSec: 300 } },
        visibilityConfig: visibility('rate-per-ip'),
      },
      {
        // Login, forgot-password, sign-up email, invitation and reset routes: per client IP and
        // path, so one client hammering one tenant's login is stopped long before the API's
        // per-route throttle (which every client shares) fills up.
        name: 'RatePerIpAndSensitiveRoute',
        priority: 1,
        action: { block: tooMany },
        statement: {
          rateBasedStatement: {
            aggregateKeyType: 'CUSTOM_KEYS',
            customKeys: [{ ip: {} }, { uriPath: { textTransformations: [{ priority: 0, type: 'NONE' }] } }],
            limit: WAF_RATE_PER_IP_AND_ROUTE,
            evaluationWindowSec: 300,
            scopeDownStatement: {
              andStatement: {
                statements: [
                  {
                    byteMatchStatement: {
                      fieldToMatch: { method: {} },
                      positionalConstraint: 'EXACTLY',
                      searchString: 'POST',
                      textTransformations: [{ priority: 0, type: 'NONE' }],
                    },
                  },
                  {
                    regexMatchStatement: {
                      fieldToMatch: { uriPath: {} },
                      regexString: sensitivePathRegex(props.sensitiveRoutes),
                      textTransformations: [{ priority: 0, type: 'NONE' }],
                    },
                  },
                ],
              },
            },
          },
        },
        visibilityConfig: visibility('rate-per-ip-and-route'),
      },
      ...WAF_MANAGED_RULE_GROUPS.map(
        (name, i): wafv2.CfnWebACL.RuleProperty => ({
          name,
          priority: 10 + i,
          overrideAction: { none: {} },
          statement: { managedRuleGroupStatement: { vendorName: 'AWS', name } },
          visibilityConfig: visibility(name),
        }),
      ),
    ];
    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      name: `portal-${stage}`,
      description: `portal ${stage}: rate limits and AWS managed rules in front of the API and pages`,
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      customResponseBodies: {
        too_many_requests: {
          contentType: 'APPLICATION_JSON',
          content: JSON.stringify({ type: 'about:blank', title: 'Too Many Requests', status: 429, code: 'too_many_requests' }),
        },
      },
      rules,
      visibilityConfig: visibility('web-acl'),
    });

    const origin = new origins.HttpOrigin(config.originDomainName, {
      protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
      originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
      // A CloudFormation dynamic reference: the value never appears in the template.
      customHeaders: { [ORIGIN_VERIFY_HEADER]: props.originVerify.secretValue.unsafeUnwrap() },
      readTimeout: Duration.seconds(30),
    });
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `portal ${stage}`,
      domainNames: [config.domainName],
      certificate: acm.Certificate.fromCertificateArn(this, 'Certificate', config.certificateArn),
      minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      webAclId: this.webAcl.attrArn,
      // Nothing is cached but the fingerprinted stylesheet: every answer of the API and the pages
      // is per user (and says no-store).
      defaultBehavior: {
        origin,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
        cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
        originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      },
      additionalBehaviors: {
        '/a/*/assets/*': {
          origin,
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
          cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        },
      },
    });
  }
}
