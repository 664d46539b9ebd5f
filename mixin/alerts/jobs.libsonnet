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
      rollbackFailed: l.s('aliyun_cas_deployment_job_rollback_failed_workers'),
      failed: l.s('aliyun_cas_deployment_job_failed_workers'),
      errored: l.s('aliyun_cas_deployment_job_status', 'status="error"'),
      rolledBack: l.s('aliyun_cas_deployment_job_rollback_workers'),
      rollbackSucceeded: l.s('aliyun_cas_deployment_job_rollback_succeeded_workers'),
      ended: l.s('aliyun_cas_deployment_job_end_timestamp_seconds'),
      up: l.s('aliyun_cas_deployment_job_up'),
      lastSuccess: l.s('aliyun_cas_deployment_job_last_success_timestamp_seconds'),
      settled: l.s('aliyun_cas_deployment_job_status', 'status=~"success|error"'),
      stale: c.dataStaleSeconds,
    },
    // Series are taken `max by` the job's labels, without `instance`: a restarted exporter
    // continues the alert, and two replicas briefly serving one job never make two.
    local rollbackFailed = '(max by (%(by)s) (%(rollbackFailed)s) > 0)' % v,
    local failed = |||
      (
        (max by (%(by)s) (%(failed)s) > 0)
        or on (%(by)s)
        (max by (%(by)s) (%(errored)s) == 1)
      )
    ||| % v,
    local rolledBack = |||
      (
        (max by (%(by)s) (%(rolledBack)s) > 0)
        or on (%(by)s)
        (max by (%(by)s) (%(rollbackSucceeded)s) > 0)
      )
    ||| % v,
    // A job that ended longer ago than the window no longer pages.
    local recent = |||
      unless on (%(by)s)
      (time() - max by (%(by)s) (%(ended)s) > %(window)d)
    ||| % v,
    local unless(expr) = 'unless on (%s)\n%s' % [by, std.rstripChars(expr, '\n')],

    groups+: [{
      name: 'aliyun-cas-deployment-jobs',
      rules: [
        {
          alert: 'AliyunCasJobRollbackFailed',
          expr: rollbackFailed + '\n' + recent,
          keep_firing_for: c.keepFiringFor,
          labels: { severity: c.severities.page },
          annotations: {
            summary: l.jobText('Rollbacks of CAS deployment job {{ $labels.job_id }}{{ $name }} failed'),
            description: l.jobText(l.jobSet('count', 'max(aliyun_cas_deployment_job_rollback_failed_workers{%s})') + |||
              Deployment job {{ $labels.job_id }}{{ $name }} of account {{ $labels.account }}: {{ $count }} rollback(s) failed,
              so those resources may be left without a valid certificate.
              Resources whose rollback failed:
            ||| + l.resources('rollback_error')),
            runbook_url: l.runbook('AliyunCasJobRollbackFailed'),
          },
        },
        {
          alert: 'AliyunCasJobFailed',
          expr: std.join('\n', [std.rstripChars(failed, '\n'), unless(rollbackFailed), recent]),
          keep_firing_for: c.keepFiringFor,
          labels: { severity: c.severities.page },
          annotations: {
            summary: l.jobText('CAS deployment job {{ $labels.job_id }}{{ $name }} failed'),
            description: l.jobText(l.jobSet('count', 'max(aliyun_cas_deployment_job_failed_workers{%s})') + |||
              {{- $status := "unknown" -}}
              {{- with printf `max by (status) (aliyun_cas_deployment_job_status{%s}) == 1` $job | query -}}
              {{- $status = . | first | label "status" -}}
              {{- end -}}
              Deployment job {{ $labels.job_id }}{{ $name }} of account {{ $labels.account }} failed:
              {{ $count }} worker task(s) failed, and the job's status is {{ $status }}.
              Those resources did not get the certificate and keep their previous one.
              Failed resources:
            ||| + l.resources('error')),
            runbook_url: l.runbook('AliyunCasJobFailed'),
          },
        },
        {
          alert: 'AliyunCasJobRolledBack',
          expr: std.join('\n', [std.rstripChars(rolledBack, '\n'), unless(failed), unless(rollbackFailed), recent]),
          keep_firing_for: c.keepFiringFor,
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: l.jobText('CAS deployment job {{ $labels.job_id }}{{ $name }} was rolled back'),
            description: l.jobText(l.jobSet('count', 'max(aliyun_cas_deployment_job_rollback_workers{%s})') + |||
              Deployment job {{ $labels.job_id }}{{ $name }} of account {{ $labels.account }}:
              {{ $count }} worker task(s) were rolled back, so those resources went back to their previous certificate.
              Rolled-back resources:
            ||| + l.resources('rollback|rollback_success')),
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
            max by (%(by)s) (%(up)s)
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
