{
  grafanaDashboards+:: {
    'aliyun-cas-deployments.json': (import 'deployments.libsonnet')($._config),
  },
}
