-- loyalty 0.5.0 -> 0.6.0: the points mall and alliances (issue #13; in progress).
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.6.0'" to load this file. \quit
