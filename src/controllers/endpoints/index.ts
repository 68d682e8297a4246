// The Endpoints and EndpointSlice controllers: pure computation (compute.ts, slices.ts) and the
// acting layers (endpoints-controller.ts, endpointslice-controller.ts) on a shared loop.
export * from './compute.ts';
export * from './slices.ts';
export { ServiceSelectorIndex, watchServicesAndPods } from './service-index.ts';
export { SERVICES, PODS, ENDPOINTS, ENDPOINT_SLICES, CONTROLLER_FIELD_MANAGER, type ServiceController, type ServiceControllerOptions } from './loop.ts';
export { startEndpointsController, endpointsController, ENDPOINTS_CONTROLLER_COMPONENT, ENDPOINTS_USER_AGENT } from './endpoints-controller.ts';
export {
  startEndpointSliceController,
  endpointSliceController,
  managedSliceIndexFunc,
  MANAGED_SLICES_INDEX,
  ENDPOINTSLICE_CONTROLLER_COMPONENT,
  ENDPOINTSLICE_USER_AGENT,
  type EndpointSliceControllerOptions,
} from './endpointslice-controller.ts';
