// Container look-up for the runtime's commands (the rule itself lives with the table).
export { findContainer } from '../store/containers.js';
