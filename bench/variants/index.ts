// Bench-only workflow bundle: the goal workflow with local activities (bench/variants/goal-local.ts).
export { goalWorkflow } from './goal-local';
