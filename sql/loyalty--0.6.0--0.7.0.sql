-- loyalty 0.6.0 -> 0.7.0: in progress (the next issue's changes go here).
\echo Use "ALTER EXTENSION loyalty UPDATE TO '0.7.0'" to load this file. \quit
