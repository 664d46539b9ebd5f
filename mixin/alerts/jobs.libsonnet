// Deployment jobs: one page per failed rollout, the worst condition deciding
// which alert (and severity) it is, and nothing for jobs that ended long ago.
local lib = import 'lib.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local l = lib.new(c),
    local by = l.by,
    local v = {
      by: by,
      window: c.finishedJobWindowSeconds,
      rollbackFailed: l.held('aliyun_cas_deployment_job_rollback_failed_workers'),
      failed: l.held('aliyun_cas_deployment_job_failed_workers'),
      errored: l.held('aliyun_cas_deployment_job_status', 'status="error"'),
      rolledBack: l.held('aliyun_cas_deployment_job_rollback_workers'),
      rollbackSucceeded: l.held('aliyun_cas_deployment_job_rollback_succeeded_workers'),
      ended: l.current('aliyun_cas_deployment_job_end_timestamp_seconds'),
      up: l.current('aliyun_cas_deployment_job_up'),
      // Served now: stale data while the exporter is gone is AliyunCasExporterDown's page.
      polled: l.s('aliyun_cas_deployment_job_up'),
      lastSuccess: l.s('aliyun_cas_deployment_job_last_success_timestamp_seconds'),
      settled: l.current('aliyun_cas_deployment_job_status', 'status=~"success|error"'),
      stale: c.dataStaleSeconds,
    },
    // Each series counts with what the exporter serves now, or its last value while it serves
    // nothing for the job (a scrape gap or a dead exporter does not resolve the alert; a fix
    // does, at once, and so does a worse alert of the same job), taken `max by` the job's labels
    // without `instance`: a restarted exporter continues the alert, and two replicas briefly
    // serving one job never make two.
    // `max by (<job labels>) (<series>) <comparison>`, the series on a line of its own.
    local top(series, comparison) = 'max by (%s) (\n  %s\n) %s' % [by, std.strReplace(v[series], '\n', '\n  '), comparison],
    local paren(text) = '(\n%s\n)' % std.join('\n', ['  ' + line for line in std.split(text, '\n')]),
    local either(a, b) = paren('%s\nor on (%s)\n%s' % [paren(a), by, paren(b)]),
    local rollbackFailed = paren(top('rollbackFailed', '> 0')),
    local failed = either(top('failed', '> 0'), top('errored', '== 1')),
    local rolledBack = either(top('rolledBack', '> 0'), top('rollbackSucceeded', '> 0')),
    // A job that ended longer ago than the window no longer pages.
    // Nor does a job that has just come (a start, a reload) before its details say whether it
    // ended long ago: counts and details are separate calls. Its page waits for the details,
    // at most 10 minutes.
    local recent = 'unless on (%s)\n%s\nunless on (%s)\n%s' % [
      by,
      paren('time()\n- %s' % top('ended', '> %d' % c.finishedJobWindowSeconds)),
      by,
      paren('max by (%s) (%s)\nunless on (%s)\nmax by (%s) (%s)\nunless on (%s)\nmax by (%s) (%s offset 10m)' % [
        by, v.up, by, by, l.current('aliyun_cas_deployment_job_status'), by, by, l.s('aliyun_cas_deployment_job_up'),
      ]),
    ],
    local unless(expr) = 'unless on (%s)\n%s' % [by, expr],

    groups+: [{
      name: 'aliyun-cas-deployment-jobs',
      rules: [
        {
          alert: 'AliyunCasJobRollbackFailed',
          expr: rollbackFailed + '\n' + recent + '\n',
          labels: { severity: c.severities.page },
          annotations: {
            summary: l.jobText('Rollbacks of CAS deployment job {{ $labels.job_id }}{{ $name }} failed'),
            description: l.jobText(l.jobSet('count', 'aliyun_cas_deployment_job_rollback_failed_workers') + |||
              Deployment job {{ $labels.job_id }}{{ $name }} of account {{ $labels.account }}: {{ $count }} rollback(s) failed,
              so those resources may be left without a valid certificate.
            ||| + l.certificates + '\nResources whose rollback failed:\n' + l.resources('rollback_error')
                              + '\nOther failed resources:\n' + l.resources('error')),
            runbook_url: l.runbook('AliyunCasJobRollbackFailed'),
          },
        },
        {
          alert: 'AliyunCasJobFailed',
          expr: std.join('\n', [failed, unless(rollbackFailed), recent]) + '\n',
          labels: { severity: c.severities.page },
          annotations: {
            summary: l.jobText('CAS deployment job {{ $labels.job_id }}{{ $name }} failed to deploy its certificate'),
            description: l.jobText(l.jobSet('count', 'aliyun_cas_deployment_job_failed_workers') + |||
              {{- $status := "unknown" -}}
              {{- with %s -}}
              {{- $status = . | first | label "status" -}}
              {{- end -}}
              Deployment job {{ $labels.job_id }}{{ $name }} of account {{ $labels.account }} failed:
              {{ $count }} worker task(s) failed, and the job's status is {{ $status }}.
              Those resources did not get the certificate and keep their previous one.
            ||| % l.tquery('max by (status) %s == 1' % l.tcurrent('aliyun_cas_deployment_job_status{%s}'), 'job')
              + l.certificates + '\nFailed resources:\n' + l.resources('error')),
            runbook_url: l.runbook('AliyunCasJobFailed'),
          },
        },
        {
          alert: 'AliyunCasJobRolledBack',
          expr: std.join('\n', [rolledBack, unless(failed), unless(rollbackFailed), recent]) + '\n',
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: l.jobText('CAS deployment job {{ $labels.job_id }}{{ $name }} was rolled back'),
            description: l.jobText(l.jobSet('count', 'aliyun_cas_deployment_job_rollback_workers') + |||
              Deployment job {{ $labels.job_id }}{{ $name }} of account {{ $labels.account }}:
              {{ $count }} worker task(s) were rolled back, so those resources went back to their previous certificate.
            ||| + l.certificates + '\nRolled-back resources:\n' + l.resources('rollback|rollback_success')),
            runbook_url: l.runbook('AliyunCasJobRolledBack'),
          },
        },
        {
          alert: 'AliyunCasJobPollFailing',
          expr: 'max by (%(by)s) (%(up)s) == 0' % v,
          'for': '15m',
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: l.jobText('The exporter cannot poll CAS deployment job {{ $labels.job_id }}{{ $name }}'),
            description: l.jobText(|||
              Polls of deployment job {{ $labels.job_id }}{{ $name }} of account {{ $labels.account }} have failed for 15 minutes:
              its values are old or gone, and its failures would go unnoticed.
            |||),
            runbook_url: l.runbook('AliyunCasJobPollFailing'),
          },
        },
        {
          // The newest successful poll of the last hour (max_over_time), so the alert keeps
          // firing after the exporter stops serving a stale job's timestamp (stale_after).
          alert: 'AliyunCasJobDataStale',
          expr: |||
            (
              time()
              - max by (%(by)s) (
                max_over_time(%(lastSuccess)s[1h]) > 0
              )
              > %(stale)d
            )
            and on (%(by)s)
            max by (%(by)s) (%(polled)s)
            unless on (%(by)s)
            (max by (%(by)s) (%(settled)s) == 1)
          ||| % v,
          'for': '5m',
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: l.jobText('Data of CAS deployment job {{ $labels.job_id }}{{ $name }} is stale'),
            description: l.jobText(|||
              The last successful poll of deployment job {{ $labels.job_id }}{{ $name }} of account {{ $labels.account }}
              was {{ $value | humanizeDuration }} ago (expected within the poll interval): polls fail or fall behind.
            |||),
            runbook_url: l.runbook('AliyunCasJobDataStale'),
          },
        },
      ],
    }],
  },
}
