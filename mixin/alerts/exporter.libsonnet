// Credentials, configuration, and whether the exporter is there at all.
local lib = import 'lib.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local l = lib.new(c),
    local v = {
      group: l.group,
      sel: c.exporterSelector,
      refreshErrors: l.s('aliyun_cas_credentials_refresh_errors_total'),
      expiry: l.s('aliyun_cas_credentials_expiry_timestamp_seconds'),
      expiryLeft: c.credentialsExpirySeconds,
      reload: l.s('aliyun_cas_exporter_config_last_reload_successful'),
      jobs: l.s('aliyun_cas_exporter_jobs'),
      retired: l.s('aliyun_cas_exporter_retired_jobs'),
      shards: l.s('aliyun_cas_exporter_shards'),
    },

    groups+: [{
      name: 'aliyun-cas-exporter',
      rules: [
        {
          // A failed refresh is retried after 5 s, doubling up to 5 minutes, so refreshes that keep
          // failing always leave an error in the last 10 minutes; one that recovers resolves it.
          alert: 'AliyunCasCredentialsRefreshFailing',
          expr: 'increase(%(refreshErrors)s[10m]) > 0' % v,
          'for': '15m',
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: 'Temporary credentials of account {{ $labels.account }} cannot be refreshed',
            description: |||
              Refreshes of the {{ $labels.provider }} credentials of account {{ $labels.account }} on {{ $labels.instance }}
              have failed for 15 minutes; the current credentials stay in use until they expire.
            |||,
            runbook_url: l.runbook('AliyunCasCredentialsRefreshFailing'),
          },
        },
        {
          // Refreshed 15 minutes before expiry, so a healthy exporter never gets within 10 of it.
          alert: 'AliyunCasCredentialsExpiringSoon',
          expr: '(%(expiry)s > 0) - time() < %(expiryLeft)d' % v,
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: 'Temporary credentials of account {{ $labels.account }} expire soon',
            description: |||
              The temporary credentials of account {{ $labels.account }} on {{ $labels.instance }} expire in {{ $value | humanizeDuration }}
              (a negative value means they have expired) and were not refreshed: polls will fail once they expire.
            |||,
            runbook_url: l.runbook('AliyunCasCredentialsExpiringSoon'),
          },
        },
        {
          alert: 'AliyunCasExporterConfigReloadFailed',
          expr: '%(reload)s == 0' % v,
          'for': '5m',
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: 'aliyun-cas-exporter {{ $labels.instance }} refused its configuration file',
            description: |||
              The last configuration reload of {{ $labels.instance }} (job {{ $labels.job }}) was refused, 5 minutes ago or more:
              it keeps running the previous configuration, but will not start again with this file.
            |||,
            runbook_url: l.runbook('AliyunCasExporterConfigReloadFailed'),
          },
        },
        {
          // Summed over the replicas; an account whose discovered jobs all retired is quiet, not broken.
          alert: 'AliyunCasExporterNoJobs',
          expr: |||
            sum by (%(group)s, account) (%(jobs)s) == 0
            unless on (%(group)s, account)
            (sum by (%(group)s, account) (%(retired)s) > 0)
          ||| % v,
          'for': '30m',
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: 'aliyun-cas-exporter polls no deployment job of account {{ $labels.account }}',
            description: |||
              For 30 minutes, no exporter of job {{ $labels.job }} has polled any deployment job of account {{ $labels.account }}:
              its `jobs` list is empty and discovery finds nothing that passes its filters (or lists the wrong region or account).
            |||,
            runbook_url: l.runbook('AliyunCasExporterNoJobs'),
          },
        },
        {
          alert: 'AliyunCasExporterDown',
          // A share, not `up == 0`: an exporter that crash-loops, answering a scrape now and
          // then, would reset `for:` with every answer and never page.
          expr: 'avg_over_time(up{%(sel)s}[5m]) < 0.5' % v,
          'for': c.exporterDownFor,
          labels: { severity: c.severities.page },
          annotations: {
            summary: 'aliyun-cas-exporter {{ $labels.instance }} is down',
            description: |||
              Prometheus has failed most scrapes of {{ $labels.instance }} (job {{ $labels.job }}) for %s:
              certificate deployment failures are not being watched. The deployment-job and certificate alerts
              it had raised keep firing on its last values for %s, then resolve although nothing was fixed.
            ||| % [c.exporterDownFor, c.lastValueWindow],
            runbook_url: l.runbook('AliyunCasExporterDown'),
          },
        },
        {
          // A replica gone from service discovery has no `up` series to be 0: count the targets
          // against the shard count the others serve.
          alert: 'AliyunCasExporterShardMissing',
          expr: |||
            count by (%(group)s) (up{%(sel)s}) < max by (%(group)s) (%(shards)s)
          ||| % v,
          'for': c.exporterAbsentFor,
          labels: { severity: c.severities.page },
          annotations: {
            summary: 'A shard of aliyun-cas-exporter job {{ $labels.job }} is not scraped',
            description: |||
              {{- $shards := "?" -}}
              {{- with printf `max(aliyun_cas_exporter_shards{%s,%s})` %s | query }}{{ $shards = . | first | value }}{{ end -}}
              The replicas of job {{ $labels.job }} say there are {{ $shards }} shards,
              but Prometheus scrapes only {{ $value }} of them, for %s: the jobs of the missing shard are not watched.
            ||| % [
              c.exporterSelector,
              std.join(',', ['%s=%%q' % g for g in c.groupLabels]),
              std.join(' ', ['$labels.%s' % g for g in c.groupLabels]),
              c.exporterAbsentFor,
            ],
            runbook_url: l.runbook('AliyunCasExporterShardMissing'),
          },
        },
        {
          alert: 'AliyunCasExporterAbsent',
          expr: 'absent(up{%(sel)s})' % v,
          'for': c.exporterAbsentFor,
          labels: { severity: c.severities.page },
          annotations: {
            summary: 'aliyun-cas-exporter is not scraped at all',
            description: |||
              No scrape target matching {%s} has existed for %s: the exporter is not deployed or service discovery lost it,
              so certificate deployments are not watched.
            ||| % [c.exporterSelector, c.exporterAbsentFor],
            runbook_url: l.runbook('AliyunCasExporterAbsent'),
          },
        },
      ],
    }],
  },
}
