// The demo data source: a credit-card accounts table whose columns describe their own constraints in
// plain words (as a data dictionary would), and whose generators break those constraints now and then
// so that profiling has real defects to find. Deterministic: the same seed gives the same table.

import type { AttributeDescriptor } from '../common/rules';

export type Random = () => number;
type Value = string | number | boolean | null;

export interface DemoColumn extends AttributeDescriptor {
  generate(random: Random, row: number): Value;
}

const STATES = ['CA', 'NY', 'TX', 'FL', 'IL', 'PA', 'OH', 'GA', 'NC', 'MI', 'WA', 'AZ'];
const STATUSES = ['ACTIVE', 'CLOSED', 'SUSPENDED', 'DELINQUENT'];
const PRODUCTS = ['CLASSIC', 'GOLD', 'PLATINUM', 'BUSINESS'];
const CHANNELS = ['BRANCH', 'ONLINE', 'MOBILE', 'PARTNER'];
const MONTHS = Array.from({ length: 12 }, (_, i) => String(i + 1).padStart(2, '0'));

const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const between = (random: Random, min: number, max: number) => min + random() * (max - min);
const money = (n: number) => Math.round(n * 100) / 100;
const isoDay = (daysAfter2015: number) =>
  new Date(Date.UTC(2015, 0, 1) + daysAfter2015 * 86_400_000).toISOString().slice(0, 10);

/** Wraps a generator so that a small, seeded share of rows gets a null or a defect. */
function withDefects(
  generate: DemoColumn['generate'],
  nullRate: number,
  defectRate = 0,
  defect?: DemoColumn['generate'],
): DemoColumn['generate'] {
  return (random, row) => {
    const roll = random();
    if (roll < nullRate) return null;
    if (defect && roll < nullRate + defectRate) return defect(random, row);
    return generate(random, row);
  };
}

const core: DemoColumn[] = [
  {
    name: 'account_id',
    dataType: 'text',
    description: 'Account identifier, unique per account, format ACC followed by 8 digits',
    generate: (_r, row) => (row === 7777 ? 'ACC00001234' : `ACC${String(row + 1).padStart(8, '0')}`),
  },
  {
    name: 'customer_id',
    dataType: 'text',
    description: 'Customer identifier, format CUS followed by 7 digits',
    generate: withDefects(
      (r) => `CUS${String(Math.floor(between(r, 1, 9_999_999))).padStart(7, '0')}`,
      0,
      0.004,
      (r) => `C-${Math.floor(r() * 1000)}`,
    ),
  },
  {
    name: 'account_status',
    dataType: 'text',
    description: `Lifecycle status, one of: ${STATUSES.join(', ')}`,
    generate: withDefects(
      (r) => pick(r, STATUSES),
      0.002,
      0.006,
      () => 'active',
    ),
  },
  {
    name: 'product_type',
    dataType: 'text',
    description: `Card product, one of: ${PRODUCTS.join(', ')}`,
    generate: withDefects((r) => pick(r, PRODUCTS), 0.001),
  },
  {
    name: 'acquisition_channel',
    dataType: 'text',
    description: `Channel the account was opened through, one of: ${CHANNELS.join(', ')}`,
    generate: withDefects((r) => pick(r, CHANNELS), 0.03),
  },
  {
    name: 'credit_limit',
    dataType: 'numeric',
    description: 'Credit limit in USD, between 500 and 50000',
    generate: withDefects(
      (r) => money(between(r, 500, 50_000)),
      0.002,
      0.003,
      (r) => -money(between(r, 1, 1000)),
    ),
  },
  {
    name: 'current_balance',
    dataType: 'numeric',
    description: 'Outstanding balance in USD, between 0 and 60000',
    generate: withDefects(
      (r) => money(between(r, 0, 30_000)),
      0.001,
      0.002,
      () => 99_999_999,
    ),
  },
  {
    name: 'apr_rate',
    dataType: 'numeric',
    description: 'Annual percentage rate, between 0 and 36',
    generate: withDefects(
      (r) => money(between(r, 9.99, 29.99)),
      0.004,
      0.004,
      (r) => money(between(r, 40, 99)),
    ),
  },
  {
    name: 'credit_score',
    dataType: 'integer',
    description: 'FICO score at last review, between 300 and 850',
    generate: withDefects(
      (r) => Math.floor(between(r, 520, 840)),
      0.02,
      0.01,
      () => 999,
    ),
  },
  {
    name: 'annual_income',
    dataType: 'numeric',
    description: 'Self-reported annual income in USD, between 0 and 5000000',
    generate: withDefects((r) => money(between(r, 18_000, 350_000)), 0.05),
  },
  {
    name: 'cardholder_age',
    dataType: 'integer',
    description: 'Age of the primary cardholder in years, between 18 and 110',
    generate: withDefects(
      (r) => Math.floor(between(r, 18, 90)),
      0.001,
      0.003,
      () => 7,
    ),
  },
  {
    name: 'email_address',
    dataType: 'text',
    description: 'Contact email address, must be a valid email format',
    generate: withDefects(
      (_r, row) => `holder${row}@example.com`,
      0.01,
      0.01,
      (_r, row) => `holder${row}.example.com`,
    ),
  },
  {
    name: 'phone_number',
    dataType: 'text',
    description: 'Contact phone, format NNN-NNN-NNNN',
    generate: withDefects(
      (r) =>
        `${Math.floor(between(r, 200, 999))}-${Math.floor(between(r, 200, 999))}-${String(Math.floor(r() * 10_000)).padStart(4, '0')}`,
      0.02,
      0.01,
      () => '5551234',
    ),
  },
  {
    name: 'billing_state',
    dataType: 'text',
    description: 'Two-letter US state code, length 2',
    generate: withDefects(
      (r) => pick(r, STATES),
      0.003,
      0.002,
      () => 'Calif',
    ),
  },
  {
    name: 'billing_zip',
    dataType: 'text',
    description: 'Five-digit US ZIP code, format NNNNN',
    generate: withDefects(
      (r) => String(Math.floor(between(r, 10_000, 99_999))),
      0.004,
      0.005,
      () => '9021',
    ),
  },
  {
    name: 'account_open_date',
    dataType: 'date',
    description: 'Date the account was opened, not before 1990-01-01',
    generate: withDefects(
      (r) => isoDay(Math.floor(between(r, 0, 3500))),
      0,
      0.002,
      () => '1899-12-31',
    ),
  },
  {
    name: 'last_statement_date',
    dataType: 'date',
    description: 'Date of the latest statement, recent: within 400 days',
    generate: withDefects((r) => isoDay(Math.floor(between(r, 3800, 4300))), 0.01),
  },
  {
    name: 'last_payment_date',
    dataType: 'date',
    description: 'Date of the latest payment, not before 1990-01-01',
    generate: withDefects((r) => isoDay(Math.floor(between(r, 3000, 4300))), 0.04),
  },
  {
    name: 'days_past_due',
    dataType: 'integer',
    description: 'Days past due on the minimum payment, between 0 and 180',
    generate: withDefects(
      (r) => (r() < 0.85 ? 0 : Math.floor(between(r, 1, 180))),
      0.001,
      0.002,
      () => -3,
    ),
  },
  {
    name: 'minimum_payment_due',
    dataType: 'numeric',
    description: 'Minimum payment due in USD, between 0 and 5000',
    generate: withDefects((r) => money(between(r, 0, 900)), 0.002),
  },
  {
    name: 'rewards_points',
    dataType: 'integer',
    description: 'Rewards points balance, between 0 and 10000000',
    generate: withDefects((r) => Math.floor(between(r, 0, 250_000)), 0.02),
  },
  {
    name: 'autopay_enrolled',
    dataType: 'boolean',
    description: 'Whether autopay is on, not null',
    generate: withDefects((r) => r() < 0.4, 0.01),
  },
  {
    name: 'paperless_statements',
    dataType: 'boolean',
    description: 'Whether statements are paperless, not null',
    generate: withDefects((r) => r() < 0.6, 0.005),
  },
  {
    name: 'risk_grade',
    dataType: 'text',
    description: 'Internal risk grade, one of: A, B, C, D, E',
    generate: withDefects(
      (r) => pick(r, ['A', 'B', 'C', 'D', 'E']),
      0.003,
      0.004,
      () => 'Z',
    ),
  },
  {
    name: 'branch_code',
    dataType: 'text',
    description: 'Servicing branch code, length between 4 and 6',
    generate: withDefects((r) => `BR${Math.floor(between(r, 10, 9999))}`, 0.01),
  },
  {
    name: 'last_review_timestamp',
    dataType: 'timestamp',
    description: 'When the account was last reviewed, recent: within 400 days',
    generate: withDefects((r) => `${isoDay(Math.floor(between(r, 3700, 4300)))}T12:00:00Z`, 0.02),
  },
];

/** Twelve monthly snapshots of seven measures: the wide, repetitive part real report tables have. */
const monthly: DemoColumn[] = MONTHS.flatMap((month) => [
  {
    name: `balance_m${month}`,
    dataType: 'numeric' as const,
    description: `Statement balance ${month} months ago in USD, between 0 and 60000`,
    generate: withDefects(
      (r) => money(between(r, 0, 30_000)),
      0.01,
      0.001,
      () => -50,
    ),
  },
  {
    name: `payment_m${month}`,
    dataType: 'numeric' as const,
    description: `Payments received ${month} months ago in USD, between 0 and 60000`,
    generate: withDefects((r) => money(between(r, 0, 5_000)), 0.015),
  },
  {
    name: `utilization_m${month}`,
    dataType: 'numeric' as const,
    description: `Credit utilisation ratio ${month} months ago, between 0 and 1.5`,
    generate: withDefects(
      (r) => Math.round(r() * 1000) / 1000,
      0.01,
      0.002,
      () => 7.5,
    ),
  },
  {
    name: `late_fee_m${month}`,
    dataType: 'numeric' as const,
    description: `Late fee charged ${month} months ago in USD, between 0 and 41`,
    generate: withDefects(
      (r) => (r() < 0.9 ? 0 : 29),
      0.005,
      0.001,
      () => 150,
    ),
  },
  {
    name: `cash_advance_m${month}`,
    dataType: 'numeric' as const,
    description: `Cash advances ${month} months ago in USD, between 0 and 10000`,
    generate: withDefects((r) => (r() < 0.8 ? 0 : money(between(r, 20, 2_000))), 0.01),
  },
  {
    name: `interest_charged_m${month}`,
    dataType: 'numeric' as const,
    description: `Interest charged ${month} months ago in USD, between 0 and 2000`,
    generate: withDefects(
      (r) => money(between(r, 0, 600)),
      0.01,
      0.001,
      () => -12.5,
    ),
  },
  {
    name: `transactions_m${month}`,
    dataType: 'integer' as const,
    description: `Number of card transactions ${month} months ago, between 0 and 2000`,
    generate: withDefects((r) => Math.floor(between(r, 0, 120)), 0.01),
  },
]);

export const DEMO_COLUMNS: readonly DemoColumn[] = [...core, ...monthly];
