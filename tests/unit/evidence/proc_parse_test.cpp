#include "stallwatch/evidence/proc_parse.h"
#include <gtest/gtest.h>
TEST(ProcParse, Placeholder) { EXPECT_TRUE(stallwatch::evidence::parse_task_stat("1 (a) R").ok() == false); }
