// The workflow bundle's entry point: every workflow the worker runs.
export { goalWorkflow } from './goal';
export { reconcileWorkflow } from './reconcile';
export { burstHealWorkflow } from './burst-heal';
