// The Alibaba Cloud API as the exporter meets it: throttling, permissions,
// errors, and the discovery of new jobs.
local lib = import 'lib.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local l = lib.new(c),
    local v = {
      group: l.group,
      requests: l.s('aliyun_cas_api_requests_total'),
      throttled: l.s('aliyun_cas_api_requests_total', 'code=~"Throttling.*|Rejected.Throttling"'),
      // Credential and RAM errors of the counts' actions; the detail actions have their own alert.
      auth: l.s('aliyun_cas_api_requests_total', 'code=~"%s"\taction!~"ListWorkerResource|ListDeploymentJobCert"' % self.authCodes),
      authCodes: 'SignatureDoesNotMatch|InvalidAccessKeyId.*|Forbidden.*|NoPermission.*|InvalidSecurityToken.*|credentials',
      errors: l.s('aliyun_cas_api_requests_total', 'code!~"OK|Throttling.*|Rejected.Throttling|%s"' % self.authCodes),
      refused: l.s('aliyun_cas_api_detail_refused'),
      discoveryUp: l.s('aliyun_cas_discovery_up'),
      discovered: l.s('aliyun_cas_discovery_last_success_timestamp_seconds'),
      started: l.s('process_start_time_seconds'),
      ratio: c.apiErrorRatio,
      min: c.apiErrorsMin,
      discoveryFailing: c.discoveryFailingSeconds,
    },

    groups+: [{
      name: 'aliyun-cas-api',
      rules: [
        {
          alert: 'AliyunCasApiThrottled',
          expr: |||
            sum by (%(group)s, instance, account) (
              rate(%(throttled)s[5m])
            ) > 0
          ||| % v,
          'for': '10m',
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: 'The CAS API throttles account {{ $labels.account }}',
            description: |||
              CAS API calls of account {{ $labels.account }} from {{ $labels.instance }} have been throttled for 10 minutes
              ({{ printf "%.3f" $value }} throttled calls/s): the account's API quota is used up, polls are retried and fall behind.
            |||,
            runbook_url: l.runbook('AliyunCasApiThrottled'),
          },
        },
        {
          alert: 'AliyunCasApiAuthErrors',
          expr: |||
            sum by (%(group)s, instance, account, action, code) (
              increase(%(auth)s[15m])
            ) > 0
          ||| % v,
          'for': '5m',
          labels: { severity: c.severities.page },
          annotations: {
            summary: 'CAS API calls of account {{ $labels.account }} fail with {{ $labels.code }}',
            description: |||
              {{ printf "%.0f" $value }} {{ $labels.action }} call(s) of account {{ $labels.account }} from {{ $labels.instance }}
              failed with {{ $labels.code }} in the last 15 minutes, and such failures have gone on for 5 minutes:
              the credentials or their RAM permissions are wrong, and these calls are not retried.
            |||,
            runbook_url: l.runbook('AliyunCasApiAuthErrors'),
          },
        },
        {
          // The detail listings are optional: a policy without them leaves the counts watched.
          alert: 'AliyunCasApiDetailDenied',
          expr: '%(refused)s == 1' % v,
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: 'The RAM policy of account {{ $labels.account }} refuses {{ $labels.action }}',
            description: |||
              The RAM policy of account {{ $labels.account }} refuses {{ $labels.action }}, and {{ $labels.instance }} leaves it alone,
              trying again every hour: the counts are still served, but not which resources failed (ListWorkerResource)
              or which certificates the jobs deploy (ListDeploymentJobCert).
            |||,
            runbook_url: l.runbook('AliyunCasApiDetailDenied'),
          },
        },
        {
          // Failures that are neither throttling nor permissions (those have their own alerts):
          // timeouts, 5xx, broken answers. Calls retried and then successful count as failures too.
          alert: 'AliyunCasApiErrorRatioHigh',
          expr: |||
            (
              sum by (%(group)s, instance, account, action) (
                rate(%(errors)s[15m])
              )
              /
              sum by (%(group)s, instance, account, action) (rate(%(requests)s[15m]))
              > %(ratio)g
            )
            and on (%(group)s, instance, account, action)
            sum by (%(group)s, instance, account, action) (
              increase(%(errors)s[15m])
            ) >= %(min)d
          ||| % v,
          'for': '15m',
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: '{{ $value | humanizePercentage }} of {{ $labels.action }} calls of account {{ $labels.account }} fail',
            description: |||
              {{ $value | humanizePercentage }} of the {{ $labels.action }} calls of account {{ $labels.account }} from {{ $labels.instance }}
              have failed over the last 15 minutes, for 15 minutes (timeouts, connection or server errors, unreadable answers):
              polls are retried and fall behind, and each failure is logged with its code.
            |||,
            runbook_url: l.runbook('AliyunCasApiErrorRatioHigh'),
          },
        },
        {
          // Seconds since the last complete listing, or since the exporter started when none has
          // completed yet (then there is no success timestamp to age).
          alert: 'AliyunCasDiscoveryFailing',
          expr: |||
            (
              (
                time() - max by (%(group)s, instance, account) (%(discovered)s)
                unless on (%(group)s, instance, account) (%(discoveryUp)s == 1)
              )
              or on (%(group)s, instance, account)
              (
                (
                  max by (%(group)s, instance, account) (%(discoveryUp)s) == 0
                  unless on (%(group)s, instance, account) %(discovered)s
                ) * 0
                + on (%(group)s, instance) group_left ()
                (time() - max by (%(group)s, instance) (%(started)s))
              )
            )
            > %(discoveryFailing)d
          ||| % v,
          labels: { severity: c.severities.ticket },
          annotations: {
            summary: 'Discovery of account {{ $labels.account }} has failed for {{ $value | humanizeDuration }}',
            description: |||
              No complete ListDeploymentJob listing of account {{ $labels.account }} on {{ $labels.instance }}
              for {{ $value | humanizeDuration }}: the jobs found before are still polled, but new deployment jobs are not watched.
            |||,
            runbook_url: l.runbook('AliyunCasDiscoveryFailing'),
          },
        },
      ],
    }],
  },
}
