// The deployments dashboard: failed and rolled-back workers, certificates and
// the exporter's health. Queries use only the metrics of docs/metrics.md.
local p = import 'panels.libsonnet';

function(config)
  local d = config.dashboard;

  // No fixed scrape-job name: the `job` variable offers every job that serves
  // aliyun_cas_exporter_build_info, so the JSON works wherever it is imported.
  local matchers(list) = '{%s}' % std.join(', ', list);
  local selector(extra) = matchers(['job=~"$job"', 'instance=~"$instance"'] + extra);
  local exporter = selector([]);
  local account = selector(['account=~"$account"']);
  local jobs = selector(['account=~"$account"', 'job_id=~"$job_id"']);
  local products = selector(['account=~"$account"', 'job_id=~"$job_id"', 'product=~"$product"']);

  // Zeros that exist only while a selected exporter is scraped: a count with
  // nothing to count shows 0, yet a missing exporter is not passed off as "all
  // clear" (the panels say "no exporter data" then).
  local zero = '0 * count(aliyun_cas_exporter_build_info%s)' % exporter;
  local zeroPerAccount = '0 * max by (account) (aliyun_cas_exporter_jobs%s)' % account;
  local orZero(expr) = '%s or on() %s' % [expr, zero];
  local orZeroPerAccount(expr) = '%s or on(account) %s' % [expr, zeroPerAccount];
  local noExporter = 'no exporter data';

  // Adds the job's `name` from aliyun_cas_deployment_job_info, matching on `by`;
  // a job whose details are not known yet keeps its series, without a name. topk
  // leaves one info series per job even if replicas disagree on the name, so the
  // join can never be many-to-many.
  local named(expr, by) =
    '(%(e)s) * on(%(by)s) group_left(name) max by (%(by)s, name) (topk by (%(by)s) (1, aliyun_cas_deployment_job_info%(s)s)) or on(%(by)s) (%(e)s)'
    % { e: expr, by: by, s: jobs };
  local perJob(metric) = named('%s%s' % [metric, jobs], 'job, instance, account, job_id');

  local failedRed = [['green'], ['red', 1]];
  local day = 24 * 3600;
  local dashed = { fill: 'dash', dash: [10, 10] };

  local stateNow = [
    p.stat(
      'Failed and rolled-back workers now',
      'Worker tasks of the selected deployment jobs that failed (rollbacks excluded), were rolled back, or whose rollback failed, summed over the jobs, as last polled by the exporter. A failed rollback may leave a resource without a valid certificate.',
      [
        p.target(orZero('sum(aliyun_cas_deployment_job_failed_workers%s)' % jobs), 'Failed', instant=true),
        p.target(orZero('sum(aliyun_cas_deployment_job_rollback_workers%s)' % jobs), 'Rolled back', instant=true),
        p.target(orZero('sum(aliyun_cas_deployment_job_rollback_failed_workers%s)' % jobs), 'Failed rollbacks', instant=true),
      ],
      w=6,
    ) {
      fieldConfig+: { defaults+: { decimals: 0, noValue: noExporter, thresholds: p.thresholds(failedRed) } },
      options+: { colorMode: 'background' },
    },
    p.stat(
      'Jobs by status',
      'Number of selected deployment jobs in each status (pending, editing, scheduling, processing, success, error, or a status the API adds later), from aliyun_cas_deployment_job_status.',
      [p.target('sum by (status) (aliyun_cas_deployment_job_status%s)' % jobs, '{{status}}', instant=true)],
      w=6,
    ) {
      fieldConfig+: {
        defaults+: { decimals: 0, noValue: 'no jobs', color: p.fixedColor('blue') },
        overrides: [
          p.byName('error', { color: { mode: 'thresholds' }, thresholds: p.thresholds(failedRed) }),
          p.byName('success', { color: p.fixedColor('green') }),
        ],
      },
    },
    p.stat(
      'Unlisted failed workers',
      'Worker tasks in status error, rollback, rollback_success or rollback_error that the "Failed and rolled-back workers" table cannot show: beyond worker_detail.max_per_job or max_per_account, or missing from the API\'s answer (aliyun_cas_deployment_job_unlisted_workers, summed over the jobs).',
      [p.target(orZero('sum(aliyun_cas_deployment_job_unlisted_workers%s)' % jobs), 'Unlisted', instant=true)],
      w=4,
    ) {
      fieldConfig+: { defaults+: { decimals: 0, noValue: noExporter, thresholds: p.thresholds([['green'], ['orange', 1]]) } },
    },
    p.bargauge(
      'Jobs with failed or rolled-back workers',
      'Deployment jobs that have failed, rolled-back or failed-rollback worker tasks now, by job name and ID; "no job" at 0 when no selected job has any.',
      [
        p.target(
          // The zero is named so that its bar reads "no job failed".
          '%s or on() label_replace(%s, "name", "no job", "", "")'
          % [named('aliyun_cas_deployment_job_%s%s > 0' % [metric[0], jobs], 'job, instance, account, job_id'), zero],
          '{{name}} {{job_id}} %s' % metric[1],
          instant=true,
        )
        for metric in [['failed_workers', 'failed'], ['rollback_workers', 'rolled back'], ['rollback_failed_workers', 'rollback failed']]
      ],
    ) {
      fieldConfig+: { defaults+: { decimals: 0, noValue: noExporter, thresholds: p.thresholds(failedRed) } },
    },
  ];

  local workerLabels = 'account, job_id, worker_id, status, product, region, instance_id, resource, cloud';
  local certLabels = 'account, job_id, cert_id, common_name, cert_name, status_code';
  local failuresAndCertificates = [
    p.table(
      'Failed and rolled-back workers',
      'One row per worker task of the selected jobs in status error, rollback (under way), rollback_success or rollback_error, with the job\'s name and the cloud resource: product, region, instance and resource (domain, or instance:port), and the cloud, Alibaba Cloud unless the API names another. From aliyun_cas_deployment_job_worker_info, listed when the job\'s counts change; "Unlisted failed workers" counts those left out.',
      [p.target(named('max by (%s) (aliyun_cas_deployment_job_worker_info%s)' % [workerLabels, jobs], 'account, job_id'), instant=true, format='table')],
      {
        excludeByName: { Time: true, Value: true, __name__: true, job: true, instance: true },
        indexByName: { account: 0, job_id: 1, name: 2, status: 3, product: 4, region: 5, instance_id: 6, resource: 7, cloud: 8, worker_id: 9 },
        renameByName: {
          account: 'Account',
          job_id: 'Job ID',
          name: 'Job name',
          status: 'Status',
          product: 'Product',
          region: 'Region',
          instance_id: 'Instance ID',
          resource: 'Resource',
          cloud: 'Cloud',
          worker_id: 'Worker ID',
        },
      },
      { displayName: 'Job ID', desc: false },
    ) {
      fieldConfig+: {
        defaults+: { noValue: 'no failed or rolled-back workers' },
        overrides: p.blankCells('-', ['Account', 'Job ID', 'Job name', 'Status', 'Product', 'Region', 'Instance ID', 'Resource', 'Worker ID']) + [
          p.byName('Cloud', { noValue: 'Alibaba Cloud' }),
          p.byName('Status', {
            mappings: p.valueMappings([
              ['error', null, 'red'],
              ['rollback', null, 'orange'],
              ['rollback_success', null, 'yellow'],
              ['rollback_error', null, 'dark-red'],
            ]),
            'custom.cellOptions': { type: 'color-text' },
          }),
        ],
      },
    },
    p.table(
      'Certificate expiry',
      'Certificates the selected jobs deploy, soonest expiry first: time left until NotAfter (aliyun_cas_certificate_not_after_timestamp_seconds - time(); "ago" once expired), one row per deploying job (aliyun_cas_deployment_job_certificate_info). Red under %d days, orange under %d, as the alerts.' % [config.certificateCriticalDays, config.certificateWarningDays],
      [p.target(
        'sort(%s)' % named(
          'max by (%s) (aliyun_cas_deployment_job_certificate_info%s) * on(account, cert_id) group_left() (min by (account, cert_id) (aliyun_cas_certificate_not_after_timestamp_seconds%s) - time())'
          % [certLabels, jobs, account],
          'account, job_id'
        ),
        instant=true,
        format='table',
      )],
      {
        excludeByName: { Time: true, __name__: true, job: true, instance: true },
        indexByName: { Value: 0, common_name: 1, cert_id: 2, cert_name: 3, status_code: 4, account: 5, job_id: 6, name: 7 },
        renameByName: {
          Value: 'Time left',
          common_name: 'Common name',
          cert_id: 'Certificate ID',
          cert_name: 'Certificate name',
          status_code: 'Status',
          account: 'Account',
          job_id: 'Job ID',
          name: 'Job name',
        },
      },
      { displayName: 'Time left', desc: false },
    ) {
      fieldConfig+: {
        defaults+: { noValue: 'no certificates' },
        overrides: p.blankCells('-', ['Common name', 'Certificate ID', 'Certificate name', 'Status', 'Account', 'Job ID', 'Job name']) + [
          p.byName('Time left', { unit: 'dtdurations' } + p.colorBackground([
            ['red'],
            ['orange', config.certificateCriticalDays * day],
            ['green', config.certificateWarningDays * day],
          ])),
        ],
      },
    },
  ];

  local overTime = [
    p.timeseries(
      'Succeeded against failed workers per job',
      'Per deployment job, worker tasks that succeeded (solid) against those that failed (dashed red), rollbacks excluded, as polled in the background by the exporter.',
      [
        p.target(perJob('aliyun_cas_deployment_job_succeeded_workers'), '{{name}} ({{job_id}}) succeeded'),
        p.target(perJob('aliyun_cas_deployment_job_failed_workers'), '{{name}} ({{job_id}}) failed'),
      ],
      w=16,
      h=9,
    ) {
      fieldConfig+: {
        defaults+: { decimals: 0 },
        overrides: [p.byRegexp('.* failed$', { color: p.fixedColor('red'), 'custom.lineStyle': dashed })],
      },
    },
    p.bargauge(
      'Workers per product',
      'Worker tasks of the selected deployment jobs per cloud product (CDN, SLB, ALB, OSS, WAF, ...), summed over the jobs, as the API names the products; filtered by the product variable.',
      [p.target('sum by (product) (aliyun_cas_deployment_job_product_workers%s)' % products, '{{product}}', instant=true)],
      h=9,
    ) {
      fieldConfig+: { defaults+: { decimals: 0, noValue: 'no workers', color: { mode: 'continuous-BlPu' } } },
    },
    p.timeseries(
      'Rolled-back workers per job',
      'Per deployment job, worker tasks that were rolled back and rollbacks that failed (dashed red). A failed rollback may leave a resource without a valid certificate.',
      [
        p.target(perJob('aliyun_cas_deployment_job_rollback_workers'), '{{name}} ({{job_id}}) rolled back'),
        p.target(perJob('aliyun_cas_deployment_job_rollback_failed_workers'), '{{name}} ({{job_id}}) rollback failed'),
      ],
    ) {
      fieldConfig+: {
        defaults+: { decimals: 0 },
        overrides: [p.byRegexp('.* rollback failed$', { color: p.fixedColor('red'), 'custom.lineStyle': dashed })],
      },
    },
    p.timeseries(
      'Workers per product over time',
      'Worker tasks of the selected deployment jobs per cloud product over time, summed over the jobs; filtered by the product variable.',
      [p.target('sum by (product) (aliyun_cas_deployment_job_product_workers%s)' % products, '{{product}}')],
    ) {
      fieldConfig+: { defaults+: { decimals: 0 } },
    },
  ];

  // The jobs table merges one instant query per column on the job's labels.
  local jobColumn(expr) = p.target(expr, instant=true, format='table');
  local jobValue(metric) = jobColumn('max by (job, instance, account, job_id) (%s%s)' % [metric, jobs]);
  local countColumn(color) = p.colorBackground([['transparent'], [color, 1]]);
  local jobTable = [
    p.table(
      'Deployment jobs',
      'Each selected deployment job: name, type, certificate, products and current status (from aliyun_cas_deployment_job_info joined with aliyun_cas_deployment_job_status == 1), its worker counts, whether its last background poll succeeded, how long ago the last successful poll was, and its start and end times. Instant queries merged on job, instance, account and job_id.',
      [
        jobColumn('max by (job, instance, account, job_id, name, job_type, cert_type, cert_domain, products) (aliyun_cas_deployment_job_info%s) * on(job, instance, account, job_id) group_left(status) max by (job, instance, account, job_id, status) (aliyun_cas_deployment_job_status%s == 1)' % [jobs, jobs]),
        jobValue('aliyun_cas_deployment_job_workers'),
        jobValue('aliyun_cas_deployment_job_succeeded_workers'),
        jobValue('aliyun_cas_deployment_job_failed_workers'),
        jobValue('aliyun_cas_deployment_job_rollback_workers'),
        jobValue('aliyun_cas_deployment_job_rollback_failed_workers'),
        jobValue('aliyun_cas_deployment_job_up'),
        jobColumn('time() - max by (job, instance, account, job_id) (aliyun_cas_deployment_job_last_success_timestamp_seconds%s)' % jobs),
        jobColumn('max by (job, instance, account, job_id) (aliyun_cas_deployment_job_start_timestamp_seconds%s) * 1000' % jobs),
        jobColumn('max by (job, instance, account, job_id) (aliyun_cas_deployment_job_end_timestamp_seconds%s) * 1000' % jobs),
      ],
      {
        excludeByName: { Time: true, job: true, __name__: true, 'Value #A': true },
        indexByName: {
          account: 0,
          job_id: 1,
          name: 2,
          status: 3,
          job_type: 4,
          cert_type: 5,
          cert_domain: 6,
          products: 7,
          'Value #B': 8,
          'Value #C': 9,
          'Value #D': 10,
          'Value #E': 11,
          'Value #F': 12,
          'Value #G': 13,
          'Value #H': 14,
          'Value #I': 15,
          'Value #J': 16,
          instance: 17,
        },
        renameByName: {
          account: 'Account',
          job_id: 'Job ID',
          name: 'Name',
          job_type: 'Job type',
          cert_type: 'Cert type',
          cert_domain: 'Cert domain',
          products: 'Products',
          status: 'Status',
          instance: 'Exporter instance',
          'Value #B': 'Workers',
          'Value #C': 'Succeeded',
          'Value #D': 'Failed',
          'Value #E': 'Rolled back',
          'Value #F': 'Rollback failed',
          'Value #G': 'Poll up',
          'Value #H': 'Last success age',
          'Value #I': 'Started',
          'Value #J': 'Ended',
        },
      },
      { displayName: 'Failed', desc: true },
      h=12,
    ) {
      fieldConfig+: {
        defaults+: { decimals: 0 },
        overrides: [
          p.byName('Status', {
            mappings: p.valueMappings([
              ['success', null, 'green'],
              ['error', null, 'red'],
              ['processing', null, 'blue'],
              ['scheduling', null, 'purple'],
              ['pending', null, 'yellow'],
              ['editing', null, 'text'],
            ]),
            'custom.cellOptions': { type: 'color-text' },
          }),
          p.byName('Failed', countColumn('red')),
          p.byName('Rollback failed', countColumn('red')),
          p.byName('Rolled back', countColumn('orange')),
          p.byName('Poll up', {
            mappings: p.valueMappings([['0', 'down', 'red'], ['1', 'up', 'green']]),
            'custom.cellOptions': { type: 'color-text' },
          }),
          p.byName('Last success age', { unit: 's', decimals: 0 }),
          p.byName('Started', { unit: 'dateTimeAsIso' }),
          p.byName('Ended', { unit: 'dateTimeAsIso' }),
        ],
      },
    },
  ];

  local health = [
    p.stat(
      'Job polls now',
      'Selected deployment jobs whose last background poll succeeded (aliyun_cas_deployment_job_up 1) and those whose polls fail or never succeeded yet (up 0). A failing job keeps its last good values until stale_after.',
      [
        p.target(orZero('sum(aliyun_cas_deployment_job_up%s)' % jobs), 'Up', instant=true),
        p.target(orZero('sum(1 - aliyun_cas_deployment_job_up%s)' % jobs), 'Failing', instant=true),
      ],
    ) {
      fieldConfig+: {
        defaults+: { decimals: 0, noValue: noExporter, color: p.fixedColor('green') },
        overrides: [p.byName('Failing', { color: { mode: 'thresholds' }, thresholds: p.thresholds(failedRed) })],
      },
      options+: { colorMode: 'background' },
    },
    p.stat(
      'Time until credentials expire',
      'Per account, time left before the current temporary credentials (STS, ECS RAM role, credentials URI) expire. The exporter refreshes them 15 minutes before; a value below that means refreshes are failing. Accounts with long-lived AccessKey credentials have none and read "no temporary credentials".',
      [p.target(
        // A static AccessKey has no expiry series: its account gets a 0 that reads "no temporary credentials".
        orZeroPerAccount('min by (account) (aliyun_cas_credentials_expiry_timestamp_seconds%s) - time()' % account),
        '{{account}}',
        instant=true,
      )],
      unit='s',
    ) {
      fieldConfig+: {
        defaults+: {
          decimals: 0,
          noValue: noExporter,
          mappings: p.valueMappings([['0', 'no temporary credentials', 'blue']]),
          // Red once the alert's margin is reached, orange once the 15-minute refresh is overdue.
          thresholds: p.thresholds([['red'], ['orange', config.credentialsExpirySeconds], ['green', 15 * 60]]),
        },
      },
      options+: { colorMode: 'background' },
    },
    p.stat(
      'Credential refresh errors',
      'Failed refreshes of temporary credentials over the dashboard\'s time range, by account and provider (0 per account when none failed). The current credentials stay in use while they are valid.',
      [p.target(
        orZeroPerAccount('sum by (account, provider) (increase(aliyun_cas_credentials_refresh_errors_total%s[$__range]))' % account),
        '{{account}} {{provider}}',
        instant=true,
      )],
      unit='short',
    ) {
      fieldConfig+: { defaults+: { decimals: 0, noValue: noExporter, thresholds: p.thresholds(failedRed) } },
      options+: { colorMode: 'background' },
    },
    p.stat(
      'Jobs polled by source',
      'Deployment jobs the selected exporter replicas poll, by source: static (listed in the configuration) or discovered with ListDeploymentJob.',
      [p.target('sum by (source) (aliyun_cas_exporter_jobs%s)' % account, '{{source}}', instant=true)],
    ) {
      fieldConfig+: { defaults+: { decimals: 0, noValue: noExporter, color: p.fixedColor('blue') } },
    },
    p.timeseries(
      'Job polls up and failing',
      'Per exporter instance and account, deployment jobs whose last background poll succeeded (sum of aliyun_cas_deployment_job_up) and jobs whose polls fail (sum of 1 - up).',
      [
        p.target('sum by (job, instance, account) (aliyun_cas_deployment_job_up%s)' % jobs, '{{instance}} {{account}} up'),
        p.target('sum by (job, instance, account) (1 - aliyun_cas_deployment_job_up%s)' % jobs, '{{instance}} {{account}} failing'),
      ],
    ) {
      fieldConfig+: {
        defaults+: { decimals: 0 },
        overrides: [p.byRegexp('.* failing$', { color: p.fixedColor('red') })],
      },
    },
    p.timeseries(
      'Age of last successful poll',
      'Per deployment job, time since its last successful background poll (time() - aliyun_cas_deployment_job_last_success_timestamp_seconds). It should stay below the poll interval (settled_interval for finished jobs); the job\'s values disappear after stale_after.',
      [p.target(named('time() - aliyun_cas_deployment_job_last_success_timestamp_seconds%s' % jobs, 'job, instance, account, job_id'), '{{name}} ({{job_id}})')],
      unit='s',
    ),
    p.timeseries(
      'API requests by code',
      'CAS API calls per second, retries included, by account and outcome code: OK, the API\'s error Code (Throttling.User, Forbidden.RAM, ...) or a transport class (timeout, connect, transport, http, decode, credentials).',
      [p.target('sum by (account, code) (rate(aliyun_cas_api_requests_total%s[$__rate_interval]))' % account, '{{account}} {{code}}')],
      unit='reqps',
    ) {
      fieldConfig+: { overrides: [p.byRegexp('.* OK$', { color: p.fixedColor('green') })] },
    },
    p.timeseries(
      'API throttling',
      'CAS API calls per second answered with a Throttling.* code, and the retries they caused, by account, action and code; a flat 0 per account while none is throttled. Any sustained value means the account\'s API quota is exhausted.',
      [
        p.target(
          orZeroPerAccount('sum by (account, action, code) (rate(aliyun_cas_api_%s%s[$__rate_interval]))' % [series[0], selector(['account=~"$account"', 'code=~"Throttling.*|Rejected.Throttling"'])]),
          // The account's zero has no action or code: its legend ends before them.
          '{{account}} %s {{action}} {{code}}' % series[1],
        )
        for series in [['requests_total', 'throttled calls'], ['retries_total', 'retries after throttling']]
      ],
      unit='reqps',
    ),
    p.timeseries(
      'Rate-limit wait',
      'Share of time that calls spent waiting for the exporter\'s own rate limit (seconds waited per second), by account and action; above 100% several calls waited at once. Growing means polling runs at the configured quota.',
      [p.target('sum by (account, action) (rate(aliyun_cas_api_rate_limit_wait_seconds_total%s[$__rate_interval]))' % account, '{{account}} {{action}}')],
      unit='percentunit',
      w=8,
    ),
    p.timeseries(
      'Poll sweep duration',
      'Duration of the last full pass over each account\'s jobs that are not settled, per exporter instance. Above the poll interval, the rate limit cannot keep up.',
      [p.target('aliyun_cas_exporter_poll_sweep_duration_seconds%s' % account, '{{instance}} {{account}}')],
      unit='s',
      w=8,
    ),
    p.timeseries(
      'API latency p95',
      '95th percentile duration of CAS API calls, whatever their outcome, by account and action, from the aliyun_cas_api_request_duration_seconds histogram. An action without calls in the interval (settled jobs are polled rarely) has no p95 and leaves a gap rather than NaN.',
      [p.target(
        // histogram_quantile over a zero rate is NaN, which `>= 0` drops.
        'histogram_quantile(0.95, sum by (le, account, action) (rate(aliyun_cas_api_request_duration_seconds_bucket%s[$__rate_interval]))) >= 0' % account,
        '{{account}} {{action}}',
      )],
      unit='s',
      w=8,
    ) {
      fieldConfig+: { defaults+: { noValue: 'no API calls in the interval' } },
    },
  ];

  local panels = p.layout([
    { row: 'Deployments now', description: 'Current worker counts and statuses of the selected deployment jobs.', panels: stateNow },
    { row: 'Failed workers and certificates', description: 'Which resources failed or were rolled back, and when the deployed certificates expire.', panels: failuresAndCertificates },
    { row: 'Deployments over time', description: 'Worker counts per job and per cloud product over the dashboard\'s time range.', panels: overTime },
    { row: 'Jobs', description: 'One row per deployment job with its details, status and worker counts.', panels: jobTable },
    { row: 'Exporter health', description: 'The exporter\'s own polling, its calls to the CAS API, and its credentials.', panels: health },
  ]);

  {
    // grafana.com's import asks for a Prometheus data source and puts it in
    // place of ${DS_PROMETHEUS}: the `datasource` variable's first choice.
    __inputs: [{
      name: 'DS_PROMETHEUS',
      label: 'Prometheus',
      description: 'The Prometheus server that scrapes aliyun-cas-exporter.',
      type: 'datasource',
      pluginId: 'prometheus',
      pluginName: 'Prometheus',
    }],
    __requires: p.requires('10.0.0', panels),
    id: null,
    uid: d.uid,
    title: d.title,
    description: 'Certificate deployment jobs of Alibaba Cloud CAS (Certificate Management Service) as served by aliyun-cas-exporter: failed and rolled-back worker tasks and their resources, certificate expiry, workers per product, job statuses, and the exporter\'s own health. Metric contract: docs/metrics.md.',
    tags: d.tags,
    timezone: 'browser',
    // Generated from mixin/: edits made in Grafana would be lost at the next import.
    editable: false,
    graphTooltip: 1,
    liveNow: false,
    fiscalYearStartMonth: 0,
    schemaVersion: 38,
    version: 1,
    refresh: d.refresh,
    time: { from: d.timeFrom, to: 'now' },
    timepicker: {},
    weekStart: '',
    links: [],
    annotations: {
      list: [{
        builtIn: 1,
        datasource: { type: 'grafana', uid: '-- Grafana --' },
        enable: true,
        hide: true,
        iconColor: 'rgba(0, 211, 255, 1)',
        name: 'Annotations & Alerts',
        type: 'dashboard',
      }],
    },
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Data source',
          type: 'datasource',
          query: 'prometheus',
          regex: d.datasourceRegex,
          hide: 0,
          refresh: 1,
          multi: false,
          includeAll: false,
          current: { selected: false, text: '${DS_PROMETHEUS}', value: '${DS_PROMETHEUS}' },
          options: [],
        },
        p.queryVariable('job', 'Job', 'label_values(aliyun_cas_exporter_build_info, job)'),
        p.queryVariable('instance', 'Instance', 'label_values(aliyun_cas_exporter_build_info%s, instance)' % matchers(['job=~"$job"'])),
        // Every account the exporters watch, jobs or not (aliyun_cas_exporter_jobs is served per account).
        p.queryVariable('account', 'Account', 'label_values(aliyun_cas_exporter_jobs%s, account)' % exporter),
        p.queryVariable('job_id', 'Deployment job ID', 'label_values(aliyun_cas_deployment_job_up%s, job_id)' % account),
        p.queryVariable('product', 'Product', 'label_values(aliyun_cas_deployment_job_product_workers%s, product)' % jobs),
      ],
    },
    panels: panels,
  }
