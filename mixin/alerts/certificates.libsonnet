// Certificates the polled jobs deploy: warn two weeks ahead, page days ahead.
local lib = import 'lib.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local l = lib.new(c),
    // One series per certificate, whichever replica or restarted exporter serves it.
    local left = 'min by (job, account, cert_id, common_name) (\n  %s\n)\n- time()'
                 % l.sLast('aliyun_cas_certificate_not_after_timestamp_seconds'),
    local day = 24 * 3600,
    local certificate = '{{- $cert := printf `job=%q,account=%q,cert_id=%q` $labels.job $labels.account $labels.cert_id -}}\n',
    local rule(severity, expr) = {
      alert: 'AliyunCasCertificateExpiring',
      expr: expr,
      labels: { severity: severity },
      annotations: {
        summary: |||
          {{- if lt $value 0.0 -}}
          Certificate {{ $labels.common_name }} ({{ $labels.cert_id }}) has expired
          {{- else -}}
          Certificate {{ $labels.common_name }} ({{ $labels.cert_id }}) expires in {{ $value | humanizeDuration }}
          {{- end -}}
        |||,
        description: certificate + std.rstripChars(|||
          Certificate {{ $labels.cert_id }} ({{ $labels.common_name }}) of account {{ $labels.account }}
          {{- with printf `min(%(notAfter)s)` $cert | query }}
          {{- if lt $value 0.0 }} expired {{ else }} expires {{ end }}at {{ . | first | value | humanizeTimestamp }}
          {{- end }}.
          Deployment jobs that deploy it:
          {{- range $i, $j := printf `%(jobs)s` $cert | query | sortByLabel "job_id" }}
          {{- if lt $i %(n)d }}
          - {{ $j.Labels.job_id }}{{ with $j.Labels.cert_name }} as {{ . }}{{ end }}
          {{- end }}
          {{- else }}
          (none listed now: aliyun_cas_deployment_job_certificate_info has no series for it)
          {{- end }}
          {{- with printf `count(%(jobs)s) - %(n)d > 0` $cert | query }}
          - and {{ . | first | value }} more
          {{- end }}
          Renew it, and deploy the new certificate to those resources before it expires.
        ||| % {
          n: c.resourcesListed,
          notAfter: l.last('aliyun_cas_certificate_not_after_timestamp_seconds{%s}'),
          jobs: l.last('aliyun_cas_deployment_job_certificate_info{%s}'),
        }, '\n'),
        runbook_url: l.runbook('AliyunCasCertificateExpiring'),
      },
    },

    groups+: [{
      name: 'aliyun-cas-certificates',
      rules: [
        rule(c.severities.ticket, '(\n%s\n< %d\n) >= %d\n' % [left, c.certificateWarningDays * day, c.certificateCriticalDays * day]),
        rule(c.severities.page, '%s\n< %d\n' % [left, c.certificateCriticalDays * day]),
      ],
    }],
  },
}
