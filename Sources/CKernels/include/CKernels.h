int hearth_ckernels_placeholder(void);
