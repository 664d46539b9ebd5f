// Pieces the alert files share: selectors, label lists, runbook links and the
// Go-template snippets that let an annotation name the job and its resources.
{
  new(config):: {
    local c = config,
    assert std.length(std.stripChars(c.exporterSelector, ' ,')) > 0 && !std.endsWith(c.exporterSelector, ',')
           : 'exporterSelector must hold label matchers, without a trailing comma, such as job="aliyun-cas-exporter"',
    assert std.length(std.findSubstr('`', c.exporterSelector)) == 0 && std.length(std.findSubstr('%', c.exporterSelector)) == 0
           : 'exporterSelector may not hold ` or %: the alert templates quote it',

    // `metric{<exporter selector>, extra}`; the matchers go on lines of their own when the
    // selector would not be readable on one.
    s(metric, extra='')::
      local matchers = [c.exporterSelector] + (if extra == '' then [] else std.split(extra, '\t'));
      local flat = '%s{%s}' % [metric, std.join(', ', matchers)];
      if std.length(flat) > 90 then '%s{\n  %s\n}' % [metric, std.join(',\n  ', matchers)] else flat,

    // Label lists for `by (...)` and `on (...)`: the ones that tell exporters apart (groupLabels),
    // and those of one deployment job's alerts (jobLabels).
    group:: std.join(', ', c.groupLabels),
    by:: std.join(', ', c.jobLabels),

    // The runbook link of an alert, or null (no runbook_url) when no pattern is set.
    runbook(alert)::
      if c.runbookURLPattern == '' then null
      else std.strReplace(c.runbookURLPattern, '%s', std.asciiLower(alert)),

    // What the exporter says now or, while it serves nothing for these `on` labels (a scrape
    // gap, a dead or restarting exporter), the newest sample of the last lastValueWindow: an
    // alert keeps firing on the last known values, while a reported fix counts at once.
    local current(selector, on) =
      '(\n  %s\n  or on (%s)\n  last_over_time(%s[%s])\n)'
      % [std.strReplace(selector, '\n', '\n  '), on, std.strReplace(selector, '\n', '\n  '), c.lastValueWindow],
    current(metric, extra='', on=self.by):: current(self.s(metric, extra), on),

    // current(), and also, while a replica reports the job's polls failing (its job_up is 0
    // and it has dropped the counts after stale_after), that replica's last value of the last
    // heldValueWindow: a job whose polls fail keeps its page. Matched on `instance` too, so a
    // value an earlier replica left never comes back.
    held(metric, extra='')::
      local selector = self.s(metric, extra);
      '(\n  %s\n  or on (%s)\n  (\n    last_over_time(%s[%s])\n    and on (%s, instance)\n    (%s == 0)\n  )\n)' % [
        std.strReplace(current(selector, self.by), '\n', '\n  '),
        self.by,
        selector,
        c.heldValueWindow,
        self.by,
        self.s('aliyun_cas_deployment_job_up'),
      ],

    // The same inside a template query: `selector` holds `%s` where $job's matchers go.
    local tcurrent(selector) = '(%s or on (job_id) last_over_time(%s[%s]))' % [selector, selector, c.lastValueWindow],
    tcurrent(selector):: tcurrent(selector),

    // Go-template `printf ... | query` of `promql`, with $<variable> for each of its `%s`.
    local query(promql, variable) =
      'printf `%s` %s | query' % [promql, std.join(' ', ['$' + variable for _ in std.findSubstr('%s', promql)])],
    tquery(promql, variable):: query(promql, variable),

    // Template lines that set $job (PromQL matchers selecting the alert's own job, exporter
    // selector included) and $name (" (the job's name)", or nothing).
    jobPreamble::
      '{{- $job := printf `%s,%s` %s -}}\n' % [
        c.exporterSelector,
        std.join(',', ['%s=%%q' % l for l in c.jobLabels]),
        std.join(' ', ['$labels.%s' % l for l in c.jobLabels]),
      ]
      + '{{- $name := "" -}}\n'
      + '{{- with %s -}}\n' % query('max by (name) %s' % tcurrent('aliyun_cas_deployment_job_info{%s}'), 'job')
      + '{{- $name = printf " (%s)" (. | first | label "name") -}}\n'
      + '{{- end -}}\n',

    // A template annotation about the job: the preamble, then `text`.
    jobText(text):: self.jobPreamble + std.rstripChars(text, '\n'),

    // Template lines that set $<variable> to the value of `metric` for the job (its last one of
    // heldValueWindow when the exporter serves none now), or to "?".
    jobSet(variable, metric)::
      '{{- $%s := "?" -}}\n{{- with %s -}}\n{{- $%s = printf "%%.0f" (. | first | value) -}}\n{{- end -}}\n'
      % [variable, query('max (%s{%%s} or on (job_id) last_over_time(%s{%%s}[%s]))' % [metric, metric, c.heldValueWindow], 'job'), variable],

    // A line naming the certificates the job deploys.
    certificates:: std.rstripChars(
      |||
        {{- range %s }}
        Certificate: {{ .Labels.cert_name }} ({{ .Labels.cert_id }}, {{ .Labels.common_name }})
        {{- end }}
      ||| % query('max by (cert_id, common_name, cert_name) %s' % tcurrent('aliyun_cas_deployment_job_certificate_info{%s}'), 'job'),
      '\n'
    ),

    // Lines listing the first c.resourcesListed workers (by resource) whose status matches
    // `statuses`, then how many more there are, or why there is no list at all. The query
    // returns at most worker_detail.max_per_job series; the text stays this short.
    resources(statuses):: std.rstripChars(self.resourceLines(statuses), '\n'),
    resourceLines(statuses)::
      local workers = 'max by (worker_id, status, product, region, instance_id, resource, cloud) %s'
                      % tcurrent('aliyun_cas_deployment_job_worker_info{%s,status=~"' + statuses + '"}');
      |||
        {{- range $i, $w := %(list)s | sortByLabel "resource" }}
        {{- if lt $i %(n)d }}
        - {{ $w.Labels.product }} {{ $w.Labels.resource }}
        {{- with $w.Labels.region }} in {{ . }}{{ end }}
        {{- with $w.Labels.cloud }} ({{ . }}){{ end }}: {{ $w.Labels.status }}
        {{- end }}
        {{- else }}
        (no list: worker_detail is off or refused, or the listing is not done yet)
        {{- end }}
        {{- with %(more)s }}
        - and {{ . | first | value }} more
        {{- end }}
        {{- with %(unlisted)s }}
        - and {{ . | first | value }} left unlisted by worker_detail's caps
        {{- end }}
      ||| % {
        n: c.resourcesListed,
        list: query(workers, 'job'),
        more: query('count(%s) - %d > 0' % [workers, c.resourcesListed], 'job'),
        unlisted: query('max %s > 0' % tcurrent('aliyun_cas_deployment_job_unlisted_workers{%s}'), 'job'),
      },
  },
}
