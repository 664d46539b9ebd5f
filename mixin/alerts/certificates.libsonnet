// Certificates the polled jobs deploy: warn two weeks ahead, page days ahead.
local lib = import 'lib.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local l = lib.new(c),
    local certLabels = std.join(', ', c.groupLabels + ['account', 'cert_id']),
    // One series per certificate, whichever replica or restarted exporter serves it; its last
    // value while none does.
    local left = 'min by (%s, common_name) (\n  %s\n)\n- time()'
                 % [certLabels, std.strReplace(l.current('aliyun_cas_certificate_not_after_timestamp_seconds', on=certLabels), '\n', '\n  ')],
    local day = 24 * 3600,
    local certificate = '{{- $cert := printf `%s,%s` %s -}}\n' % [
      c.exporterSelector,
      std.join(',', ['%s=%%q' % l for l in c.groupLabels + ['account', 'cert_id']]),
      std.join(' ', ['$labels.%s' % l for l in c.groupLabels + ['account', 'cert_id']]),
    ],
    local recent(selector) = '(%s or on (cert_id) last_over_time(%s[%s]))' % [selector, selector, c.lastValueWindow],
    local jobs = 'max by (job_id, cert_name) %s' % recent('aliyun_cas_deployment_job_certificate_info{%s}'),
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
          {{- with %(notAfter)s }}
          {{- if lt $value 0.0 }} expired {{ else }} expires {{ end }}at {{ . | first | value | humanizeTimestamp }}
          {{- end }}.
          Deployment jobs that deploy it:
          {{- range $i, $j := %(jobs)s | sortByLabel "job_id" }}
          {{- if lt $i %(n)d }}
          - {{ $j.Labels.job_id }}{{ with $j.Labels.cert_name }} as {{ . }}{{ end }}
          {{- end }}
          {{- else }}
          (none listed now: aliyun_cas_deployment_job_certificate_info has no series for it)
          {{- end }}
          {{- with %(more)s }}
          - and {{ . | first | value }} more
          {{- end }}
          {{ if lt $value 0.0 -}}
          Resources still serving it fail TLS now: deploy a valid certificate to them (a renewal may already exist in CAS).
          {{- else -}}
          Renew it, and deploy the new certificate to those resources before it expires.
          {{- end }}
        ||| % {
          n: c.resourcesListed,
          notAfter: l.tquery('min %s' % recent('aliyun_cas_certificate_not_after_timestamp_seconds{%s}'), 'cert'),
          jobs: l.tquery(jobs, 'cert'),
          more: l.tquery('count(%s) - %d > 0' % [jobs, c.resourcesListed], 'cert'),
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
