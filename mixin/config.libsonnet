// Everything an adopter may need to change, in one place. Override it when
// importing the mixin, e.g. (import 'mixin.libsonnet') + {_config+:: {exporterSelector: 'job="cas"'}}.
{
  _config+:: {
    // The label matchers that select the exporter's series in every alert rule. The dashboard
    // needs none: its `job` variable lists the scrape jobs that serve the exporter's metrics.
    exporterSelector: 'job="aliyun-cas-exporter"',

    // The labels that tell exporters apart: every alert keeps them, and every `by (...)` groups
    // by them. `namespace` (absent outside Kubernetes, and then no label at all) keeps two
    // installs apart that the Prometheus Operator gives the same scrape job; add `cluster` if
    // one Prometheus scrapes several clusters (and to the Alertmanager example's group_by and equal).
    groupLabels: ['job', 'namespace'],

    // The labels one deployment job's alerts carry besides alertname and severity. The scrape
    // `instance` is left out on purpose, so a restarted or rescheduled exporter (a new pod IP)
    // continues the same alert instead of paging again.
    jobLabels: self.groupLabels + ['account', 'job_id'],

    // Where each alert's runbook section is: %s is the alert name in lower case (a Markdown anchor).
    // '' leaves runbook_url out.
    runbookURLPattern: 'https://github.com/aliyun-cas-exporter/aliyun-cas-exporter/blob/main/docs/runbook.md#%s',

    severities: {
      // Wakes someone: a rollout failed, a certificate is about to expire, nothing is watched.
      page: 'critical',
      // Needs a look within working hours.
      ticket: 'warning',
    },

    // Deployment-job and certificate alerts judge each series by its newest sample within this
    // window (last_over_time), so through a scrape gap or a dead exporter they keep firing on
    // the last known values this long, while a fix the exporter reports resolves them at once.
    // It must outlast exporterDownFor, so AliyunCasExporterDown pages before any of them
    // could send a false RESOLVED.
    lastValueWindow: '15m',
    // While the exporter reports a job's polls failing (job_up 0), it drops the counts after
    // stale_after; the job alerts keep the last counts that long instead of resolving.
    heldValueWindow: '1d',
    exporterDownFor: '5m',
    exporterAbsentFor: '10m',

    // A job that ended longer ago than this no longer pages (its end timestamp says when).
    finishedJobWindowSeconds: 24 * 3600,

    // The most resources a job alert's description lists (a query in its template), and the
    // most jobs a certificate alert's description names.
    resourcesListed: 5,

    // A polled job whose last successful poll is older than this is stale (3 × the default
    // interval of 60s); jobs whose status is success or error are left out (settled_interval).
    dataStaleSeconds: 180,

    // Certificates that polled jobs deploy: warn, then page, this many days before NotAfter.
    certificateWarningDays: 14,
    certificateCriticalDays: 3,

    // Temporary credentials are refreshed 15 minutes before expiry; alert when 10 are left.
    credentialsExpirySeconds: 600,

    // A share of failed API calls (throttling and permission errors have their own alerts),
    // over at least this many failed calls in the window, that is worth a look.
    apiErrorRatio: 0.1,
    apiErrorsMin: 5,

    // Discovery failing for this long leaves new jobs unwatched.
    discoveryFailingSeconds: 30 * 60,

    dashboard: {
      uid: 'aliyun-cas-deployments',
      title: 'Alibaba Cloud CAS deployments',
      tags: ['aliyun-cas', 'certificates'],
      refresh: '1m',
      timeFrom: 'now-6h',
      // Which Prometheus data sources the dashboard's data source picker offers (a regex on their names; '' for all).
      datasourceRegex: '',
    },
  },
}
