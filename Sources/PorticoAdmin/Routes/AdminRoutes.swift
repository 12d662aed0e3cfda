/// Every route of the admin role.
enum AdminRoutes {
    static func register(into r: inout AdminRouter) {
        ProductRoutes.register(into: &r)
        ProxyRoutes.register(into: &r)
        MetricRoutes.register(into: &r)
        MappingRuleRoutes.register(into: &r)
        BackendRoutes.register(into: &r)
        PlanRoutes.register(into: &r)
        AccountRoutes.register(into: &r)
        ApplicationRoutes.register(into: &r)
        UserRoutes.register(into: &r)
        AccessTokenRoutes.register(into: &r)
        ProviderRoutes.register(into: &r)
        PortalRoutes.register(into: &r)
        MasterRoutes.register(into: &r)
        StatsRoutes.register(into: &r)
    }
}
