-- loyalty 0.5.0 -> 0.6.0: the points mall (issue #13; in progress).
-- Self-contained: every object 0.6.0 adds or changes is declared here, so
-- that the frozen 0.5.0 it starts from can be replaced by the final one.
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.6.0'" to load this file. \quit
