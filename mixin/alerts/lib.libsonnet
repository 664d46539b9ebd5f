// Pieces the alert files share: selectors, label lists, runbook links and the
// Go-template snippets that let an annotation name the job and its resources.
{
  new(config):: {
    local c = config,

    // `metric{<exporter selector>, extra}`.
    // Matchers that would make a line too long to read go on lines of their own.
    s(metric, extra='')::
      if std.length(extra) > 40
      then '%s{\n  %s,\n  %s\n}' % [metric, c.exporterSelector, std.join(',\n  ', std.split(extra, '\t'))]
      else '%s{%s%s}' % [metric, c.exporterSelector, if extra == '' then '' else ', ' + extra],

    // The label list of one deployment job's alerts, for `by (...)` and `on (...)`.
    by:: std.join(', ', c.jobLabels),

    runbook(alert):: c.runbookURLPattern % std.asciiLower(alert),

    // A selector's newest sample within lastValueWindow: what the exporter last said, even
    // while it cannot be scraped. `selector` may hold `%s` for a template's matchers.
    local last(selector) = 'last_over_time(%s[%s])' % [selector, c.lastValueWindow],
    last(selector):: last(selector),

    // last() of `metric{<exporter selector>, extra}`.
    sLast(metric, extra=''):: last(self.s(metric, extra)),


    // Template lines that set $job (PromQL matchers selecting the alert's own job) and
    // $name (" (the job's name)" from aliyun_cas_deployment_job_info, or nothing).
    jobPreamble::
      '{{- $job := printf `%s` %s -}}\n' % [
        std.join(',', ['%s=%%q' % l for l in c.jobLabels]),
        std.join(' ', ['$labels.%s' % l for l in c.jobLabels]),
      ]
      + '{{- $name := "" -}}\n'
      + '{{- with printf `%s` $job | query -}}\n' % last('aliyun_cas_deployment_job_info{%s}')
      + '{{- $name = printf " (%s)" (. | first | label "name") -}}\n'
      + '{{- end -}}\n',

    // A template annotation about the job: the preamble, then `text`.
    jobText(text):: self.jobPreamble + std.rstripChars(text, '\n'),

    // Template lines that set $<variable> to the value of a one-series PromQL query about the
    // job (`%s` for its matchers), or to "?" when it returns nothing.
    jobSet(variable, promql)::
      '{{- $%s := "?" -}}\n{{- with printf `%s` $job | query -}}\n{{- $%s = . | first | value -}}\n{{- end -}}\n'
      % [variable, promql, variable],

    // Lines listing the first c.resourcesListed workers (by resource) whose status matches
    // `statuses`, then how many more there are, or why there is no list at all. The query
    // returns at most worker_detail.max_per_job series; the text stays this short.
    resources(statuses)::
      local matchers = '%s,status=~"' + statuses + '"';
      |||
        {{- range $i, $w := printf `%(list)s` $job
          | query | sortByLabel "resource" }}
        {{- if lt $i %(n)d }}
        - {{ $w.Labels.product }} {{ $w.Labels.resource }}
        {{- with $w.Labels.region }} in {{ . }}{{ end }}
        {{- with $w.Labels.cloud }} ({{ . }}){{ end }}: {{ $w.Labels.status }}
        {{- end }}
        {{- else }}
        (no list: worker_detail is off or refused, or the listing is not done yet)
        {{- end }}
        {{- with printf `count(%(list)s) - %(n)d > 0` $job
          | query }}
        - and {{ . | first | value }} more
        {{- end }}
        {{- with printf `max(%(unlisted)s) > 0` $job | query }}
        - and {{ . | first | value }} left unlisted by worker_detail's caps
        {{- end }}
      ||| % {
        n: c.resourcesListed,
        list: last('aliyun_cas_deployment_job_worker_info{%s}' % matchers),
        unlisted: last('aliyun_cas_deployment_job_unlisted_workers{%s}'),
      },
  },
}
