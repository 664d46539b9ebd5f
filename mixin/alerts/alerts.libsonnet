// The alert groups, one file each. Annotations are written as text blocks;
// their final newline would reach every notification, so it is cut here.
local groups =
  (import 'jobs.libsonnet')
  + (import 'certificates.libsonnet')
  + (import 'api.libsonnet')
  + (import 'exporter.libsonnet');

groups + {
  prometheusAlerts+:: {
    groups: [
      group {
        rules: [
          rule + (
            if std.objectHas(rule, 'annotations')
            then { annotations: std.mapWithKey(function(_, text) std.rstripChars(text, '\n'), rule.annotations) }
            else {}
          )
          for rule in group.rules
        ],
      }
      for group in super.groups
    ],
  },
}
