// The alert groups, one file each. Annotations are written as text blocks;
// their final newline would reach every notification, so it is cut here (in
// this mixin's groups only, should the object hold other mixins' too), and a
// runbook_url left empty by the config is left out.
local groups =
  (import 'jobs.libsonnet')
  + (import 'certificates.libsonnet')
  + (import 'api.libsonnet')
  + (import 'exporter.libsonnet');

local clean(group) = group {
  rules: [
    rule {
      annotations: std.prune(std.mapWithKey(
        function(_, text) if text == null then null else std.rstripChars(text, '\n'),
        rule.annotations
      )),
    }
    for rule in group.rules
  ],
};

groups + {
  prometheusAlerts+:: {
    groups: [
      if std.startsWith(group.name, 'aliyun-cas-') then clean(group) else group
      for group in super.groups
    ],
  },
}
