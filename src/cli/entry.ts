// The program's entry point: run the command line (main exits the process itself).
import { main } from './main.js';

void main(process.argv);
