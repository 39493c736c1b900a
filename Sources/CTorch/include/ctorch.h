#ifndef CTORCH_H
#define CTORCH_H
int ct_placeholder(void);
#endif
