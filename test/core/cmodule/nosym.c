/* A shared object that loads fine but exports no skyhive_module_nosym entry point. */
int nosym_answer(void);
int nosym_answer(void) {
    return 42;
}
