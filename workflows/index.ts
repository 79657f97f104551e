// The workflow bundle's entry point: every workflow the worker runs.
export { goalWorkflow } from './goal';
export { fleetCheckWorkflow } from './fleet-check';
export { burstHealWorkflow } from './burst-heal';
export { alertDeliveryWorkflow } from './alert-delivery';
