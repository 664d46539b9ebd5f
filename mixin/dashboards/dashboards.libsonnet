{
  grafanaDashboards+:: {
    'aliyun-cas-deployments.json': import '../../dashboards/aliyun-cas-deployments.json',
  },
}
