// The committed configuration of every stage (see config.ts for what each value means and
// which ones a stage must set). A deploy reads only this file: change a value here, in review,
// never with `-c` on one person's command line.
import type { StageConfig } from './config';

export const STAGES: Readonly<Record<string, Partial<StageConfig>>> = {
  // Anyone's sandbox account (from the CLI's credentials); placeholders are fine here.
  dev: {},
  // Production is pinned to us-east-1 (the CloudFront web ACL must live there). Its account,
  // domains, certificates and alarm address are not known to this repository yet, so a prod
  // synth fails and names them until somebody with the account commits them here.
  prod: {
    region: 'us-east-1',
  },
};
