@echo off
type C:\app\VERSION
